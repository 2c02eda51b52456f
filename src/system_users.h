// Users and groups by name and number, read from /etc/passwd and
// /etc/group themselves. The binary is linked statically, and glibc's
// getpwnam family would load NSS modules of the glibc it was built with at
// run time (the linker warns); reading the files needs nothing. A user that
// only a directory service knows is given by number instead.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace healthcheck {

std::optional<uid_t> FindUserId(const std::string& name);
std::optional<gid_t> FindGroupId(const std::string& name);
std::optional<std::string> FindUserName(uid_t uid);

}  // namespace healthcheck

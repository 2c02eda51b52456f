// FindUserId, FindGroupId and FindUserName on fgetpwent/fgetgrent.
#include "system_users.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>

namespace healthcheck {
namespace {

// Calls `visit` on each entry read by `next` from `path` until it says stop.
template <typename Entry, typename Visit>
void ForEachEntry(const char* path, Entry* (*next)(FILE*), Visit visit) {
  FILE* file = fopen(path, "re");
  if (file == nullptr) return;
  while (Entry* entry = next(file)) {
    if (!visit(*entry)) break;
  }
  fclose(file);
}

}  // namespace

std::optional<uid_t> FindUserId(const std::string& name) {
  std::optional<uid_t> found;
  ForEachEntry<passwd>("/etc/passwd", fgetpwent, [&](const passwd& entry) {
    if (name == entry.pw_name) found = entry.pw_uid;
    return !found;
  });
  return found;
}

std::optional<gid_t> FindGroupId(const std::string& name) {
  std::optional<gid_t> found;
  ForEachEntry<group>("/etc/group", fgetgrent, [&](const group& entry) {
    if (name == entry.gr_name) found = entry.gr_gid;
    return !found;
  });
  return found;
}

std::optional<std::string> FindUserName(uid_t uid) {
  std::optional<std::string> found;
  ForEachEntry<passwd>("/etc/passwd", fgetpwent, [&](const passwd& entry) {
    if (entry.pw_uid == uid) found = entry.pw_name;
    return !found;
  });
  return found;
}

}  // namespace healthcheck

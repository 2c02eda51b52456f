// The files in cache_folder, which every process of the machine shares
// (shared results, take-over locks, counts): opened read-write without
// following a symbolic link or waiting on a FIFO, and used only when they
// are regular files of this user's own, since another user's could feed us
// answers or be truncated at will.
#pragma once

#include <sys/stat.h>

#include <string>

namespace healthcheck {

enum class CreateFile { kNo, kYes };

// The descriptor (close-on-exec), or -1 with errno set. kYes creates the
// file, mode 0600, when it is missing.
int OpenSharedFile(const std::string& path, CreateFile create);

// Whether `fd` is a regular file owned by this user; `info` is what fstat
// said of it.
bool IsOwnRegularFile(int fd, struct stat* info);

}  // namespace healthcheck

// OpenSharedFile and IsOwnRegularFile.
#include "own_file.h"

#include <fcntl.h>
#include <unistd.h>

namespace healthcheck {

int OpenSharedFile(const std::string& path, CreateFile create) {
  int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  if (create == CreateFile::kYes) flags |= O_CREAT;
  return open(path.c_str(), flags, 0600);
}

bool IsOwnRegularFile(int fd, struct stat* info) {
  return fstat(fd, info) == 0 && S_ISREG(info->st_mode) && info->st_uid == geteuid();
}

}  // namespace healthcheck

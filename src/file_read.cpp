// ReadRegularFile and OctalMode.
#include "file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

namespace healthcheck {

FileRead ReadRegularFile(const std::string& path, size_t max_bytes, const char* max_text) {
  FileRead file;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    file.error = strerror(errno);
    return file;
  }
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    file.error = "not a regular file";
    return file;
  }
  file.mode = info.st_mode & 07777;
  char chunk[4096];
  for (;;) {
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      file.error = strerror(errno);
      break;
    }
    if (got == 0) break;
    file.text.append(chunk, static_cast<size_t>(got));
    if (file.text.size() > max_bytes) {
      file.error = std::string("larger than ") + max_text;
      break;
    }
  }
  close(fd);
  return file;
}

std::string OctalMode(mode_t mode) {
  char text[16];
  snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace healthcheck

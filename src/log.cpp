// FdLog: a line-at-a-time logger on a raw file descriptor.
#include "log.h"

#include <errno.h>
#include <unistd.h>

namespace healthcheck {

void FdLog::error(std::string_view line) {
  std::string buffer;
  buffer.reserve(line.size() + 1);
  buffer.append(line);
  buffer.push_back('\n');
  const char* data = buffer.data();
  size_t left = buffer.size();
  while (left > 0) {
    ssize_t written = ::write(fd_, data, left);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;  // A closed log must not take the check down.
    data += written;
    left -= static_cast<size_t>(written);
  }
}

}  // namespace healthcheck

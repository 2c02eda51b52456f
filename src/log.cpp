// FdLog: a line-at-a-time logger on a raw file descriptor.
#include "log.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

namespace healthcheck {

// One writev of the line and its newline: no allocation, and one write(2)
// in the usual case, so that concurrent lines do not interleave.
void FdLog::error(std::string_view line) noexcept {
  char newline = '\n';
  struct iovec parts[2] = {{const_cast<char*>(line.data()), line.size()}, {&newline, 1}};
  int first = 0;
  while (first < 2) {
    ssize_t written = ::writev(fd_, parts + first, 2 - first);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;  // A closed log must not take the check down.
    size_t left = static_cast<size_t>(written);
    while (first < 2 && left >= parts[first].iov_len) left -= parts[first++].iov_len;
    if (first < 2) {
      parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + left;
      parts[first].iov_len -= left;
    }
  }
}

}  // namespace healthcheck

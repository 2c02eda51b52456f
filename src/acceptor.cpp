// Acceptor on poll(2), accept4(2) and an eventfd.
#include "acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

namespace healthcheck {
namespace {

constexpr auto kFirstBackoff = std::chrono::milliseconds(10);
constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);

bool IsShortage(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

}  // namespace

bool AcceptErrorIsTransient(int error) {
  switch (error) {
    // Another worker took the connection, the peer gave up, or a firewall
    // rule refused it.
    case EAGAIN: case EINTR: case ECONNABORTED: case EPERM:
    // Short of descriptors or memory for a moment.
    case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
    // accept(2): network errors already pending on the new connection,
    // "to be treated like EAGAIN".
    case EPROTO: case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN: case ENONET:
    case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH: case ETIMEDOUT:
      return true;
    default:
      return false;
  }
}

Result<std::unique_ptr<Acceptor>> Acceptor::Create(int listen_fd, Log& log) {
  int flags = fcntl(listen_fd, F_GETFL);
  if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Status::Error(std::string("the listening socket: ") + strerror(errno));
  }
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return Status::Error(std::string("the listening socket: ") + strerror(errno));
  }
  int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) return Status::Error(std::string("eventfd: ") + strerror(errno));
  bool tcp = address.ss_family == AF_INET || address.ss_family == AF_INET6;
  return std::unique_ptr<Acceptor>(new Acceptor(listen_fd, stop_fd, tcp, log));
}

Acceptor::~Acceptor() { close(stop_fd_); }

Result<int> Acceptor::Accept() {
  auto backoff = kFirstBackoff;
  for (;;) {
    struct pollfd waits[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(waits, 2, -1) < 0 && errno != EINTR) {
      return Status::Error(std::string("poll: ") + strerror(errno));
    }
    if (waits[1].revents != 0) return -1;
    if (waits[0].revents == 0) continue;
    int connection = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection >= 0) {
      if (tcp_) {
        // As libfcgi does: the answer is one small write, never worth a delay.
        int on = 1;
        setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      }
      return connection;
    }
    int error = errno;
    if (!AcceptErrorIsTransient(error)) return Status::Error(std::string("accept: ") + strerror(error));
    if (IsShortage(error)) {
      log_.error(std::string("healthcheck: accept failed, retrying: ") + strerror(error));
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }
}

Acceptor::Wait Acceptor::WaitReadable(int fd, int64_t timeout_ms) {
  struct pollfd waits[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  int ready;
  do {
    ready = poll(waits, 2, static_cast<int>(timeout_ms));
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) return Wait::kTimedOut;
  // Data (or a hang-up, which libfcgi reads as the end) comes before the stop:
  // a request that has arrived is answered.
  if (waits[0].revents != 0) return Wait::kReadable;
  return waits[1].revents != 0 ? Wait::kStopped : Wait::kTimedOut;
}

void Acceptor::Stop() {
  uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof one) < 0) {
    // Only a full counter fails, and then the event is readable anyway.
  }
}

}  // namespace healthcheck

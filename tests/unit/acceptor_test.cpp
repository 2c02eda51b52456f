// The Acceptor: connections when they come, and a stop that wakes everyone.
#include "../../src/acceptor.h"

#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "../../src/listen_socket.h"
#include "test_support.h"

using namespace healthcheck;

namespace {
int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}
}  // namespace

TEST_CASE("accept errors about one connection or a passing shortage are transient") {
  // accept(2): "already-pending network errors on the new socket ... should
  // be treated like EAGAIN by retrying"; the rest are a moment's shortage,
  // a peer that gave up, or a firewall's refusal.
  for (int error :
       {EAGAIN, EINTR, ECONNABORTED, EPERM, EMFILE, ENFILE, ENOBUFS, ENOMEM, EPROTO, ENETDOWN,
        ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH, ETIMEDOUT}) {
    CAPTURE(strerror(error));
    CHECK(AcceptErrorIsTransient(error));
  }
  CHECK(AcceptErrorIsTransient(EWOULDBLOCK));
}

TEST_CASE("accept errors that mean the listening socket is unusable are not transient") {
  for (int error : {EBADF, EINVAL, ENOTSOCK, EFAULT, 0}) {
    CAPTURE(error);
    CHECK_FALSE(AcceptErrorIsTransient(error));
  }
}

TEST_CASE("a waiting connection is accepted, blocking and close-on-exec") {
  testing::TempDir dir;
  ListenAddress address;
  address.path = dir.file("a.sock");
  Result<int> listener = OpenListeningSocket(address);
  REQUIRE(listener.ok());
  MemoryLog log;
  auto acceptor = Acceptor::Create(listener.value(), log);
  REQUIRE(acceptor.ok());
  CHECK((fcntl(listener.value(), F_GETFL) & O_NONBLOCK) != 0);
  int client = ConnectUnix(address.path);
  Result<int> connection = acceptor.value()->Accept();
  REQUIRE(connection.ok());
  REQUIRE(connection.value() >= 0);
  CHECK((fcntl(connection.value(), F_GETFL) & O_NONBLOCK) == 0);
  CHECK((fcntl(connection.value(), F_GETFD) & FD_CLOEXEC) != 0);

  CHECK(acceptor.value()->WaitReadable(connection.value(), 50) == Acceptor::Wait::kTimedOut);
  REQUIRE(write(client, "x", 1) == 1);
  CHECK(acceptor.value()->WaitReadable(connection.value(), 1000) == Acceptor::Wait::kReadable);
  close(client);
  close(connection.value());
  close(listener.value());
}

TEST_CASE("Stop wakes a waiting Accept and every later wait") {
  testing::TempDir dir;
  ListenAddress address;
  address.path = dir.file("b.sock");
  Result<int> listener = OpenListeningSocket(address);
  REQUIRE(listener.ok());
  MemoryLog log;
  auto acceptor = Acceptor::Create(listener.value(), log);
  REQUIRE(acceptor.ok());
  Acceptor& shared = *acceptor.value();
  int result = 0;
  std::thread waiter([&] { result = shared.Accept().value(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  shared.Stop();
  waiter.join();
  CHECK(result == -1);
  CHECK(shared.Accept().value() == -1);
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  CHECK(shared.WaitReadable(pipe_fds[0], 5000) == Acceptor::Wait::kStopped);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  close(listener.value());
}

TEST_CASE("TCP connections get TCP_NODELAY") {
  auto parsed = ParseListenAddress("127.0.0.1:39200", PublicBinding::kRefuse);
  REQUIRE(parsed.ok());
  ListenAddress address = parsed.value();
  Result<int> listener = Status::Error("none");
  for (int port = 39200; port < 39300 && !listener.ok(); ++port) {
    address.port = port;
    listener = OpenListeningSocket(address);
  }
  REQUIRE(listener.ok());
  MemoryLog log;
  auto acceptor = Acceptor::Create(listener.value(), log);
  REQUIRE(acceptor.ok());
  int client = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(address.port));
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&target), sizeof target) == 0);
  Result<int> connection = acceptor.value()->Accept();
  REQUIRE(connection.ok());
  int nodelay = 0;
  socklen_t length = sizeof nodelay;
  getsockopt(connection.value(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &length);
  CHECK(nodelay == 1);
  close(client);
  close(connection.value());
  close(listener.value());
}

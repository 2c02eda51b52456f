// --listen addresses and the listening socket.
#include "../../src/listen_socket.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "test_support.h"

using namespace healthcheck;

namespace {
// A unix socket bound at `path` by this test, listening or not; -1 on failure.
int BindUnix(const std::string& path, bool listening) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      (listening && listen(fd, 8) != 0)) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

// Whether a client can connect to the unix socket at `path`.
bool Connects(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return connected;
}

// Closes a descriptor when the test ends, however it ends.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Puts `fd` on descriptor 0 for the life of this object, then the old one back.
class ScopedStdin {
 public:
  explicit ScopedStdin(int fd) : saved_(dup(0)) { REQUIRE(dup2(fd, 0) == 0); }
  ~ScopedStdin() {
    dup2(saved_, 0);
    close(saved_);
  }
  ScopedStdin(const ScopedStdin&) = delete;
  ScopedStdin& operator=(const ScopedStdin&) = delete;

 private:
  int saved_;
};

std::string ErrorOf(const std::string& text, PublicBinding binding = PublicBinding::kRefuse) {
  Result<ListenAddress> address = ParseListenAddress(text, binding);
  REQUIRE_FALSE(address.ok());
  return address.status().message();
}
}  // namespace

TEST_CASE("unix and loopback addresses parse") {
  auto unix_socket = ParseListenAddress("unix:/run/hc.sock", PublicBinding::kRefuse);
  REQUIRE(unix_socket.ok());
  CHECK(unix_socket->kind == ListenAddress::Kind::kUnix);
  CHECK(unix_socket->path == "/run/hc.sock");
  auto v4 = ParseListenAddress("127.0.0.1:9000", PublicBinding::kRefuse);
  REQUIRE(v4.ok());
  CHECK(v4->kind == ListenAddress::Kind::kTcp);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 9000);
  CHECK(ParseListenAddress("127.8.9.10:1", PublicBinding::kRefuse).ok());
  auto v6 = ParseListenAddress("[::1]:9000", PublicBinding::kRefuse);
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  auto name = ParseListenAddress("localhost:65535", PublicBinding::kRefuse);
  REQUIRE(name.ok());
  CHECK(name->host == "127.0.0.1");
}

TEST_CASE("public addresses are refused unless allowed") {
  const std::string kRefusal =
      ": not a loopback address; the FastCGI socket must not face the network (add "
      "--allow-public if a firewall guards it)";
  CHECK(ErrorOf(":9000") == "--listen :9000" + kRefusal);
  CHECK(ErrorOf("0.0.0.0:9000") == "--listen 0.0.0.0:9000" + kRefusal);
  CHECK(ErrorOf("10.1.2.3:9000") == "--listen 10.1.2.3:9000" + kRefusal);
  CHECK(ErrorOf("[::]:9000") == "--listen [::]:9000" + kRefusal);
  auto allowed = ParseListenAddress(":9000", PublicBinding::kAllow);
  REQUIRE(allowed.ok());
  CHECK(allowed->host == "0.0.0.0");
}

TEST_CASE("malformed addresses are named") {
  const std::string kExpected = ": expected unix:/path, 127.0.0.1:PORT or [::1]:PORT";
  CHECK(ErrorOf("9000") == "--listen 9000" + kExpected);
  CHECK(ErrorOf("127.0.0.1:0") == "--listen 127.0.0.1:0" + kExpected);
  CHECK(ErrorOf("127.0.0.1:65536") == "--listen 127.0.0.1:65536" + kExpected);
  CHECK(ErrorOf("127.0.0.1:http") == "--listen 127.0.0.1:http" + kExpected);
  CHECK(ErrorOf("example.com:80") == "--listen example.com:80" + kExpected);
  CHECK(ErrorOf("unix:") == "--listen unix:: expected unix:/path");
}

TEST_CASE("a unix socket is created with mode 0660 and replaces a stale socket") {
  testing::TempDir dir;
  ListenAddress address;
  address.path = dir.file("hc.sock");
  for (int round = 0; round < 2; ++round) {
    Result<int> fd = OpenListeningSocket(address);
    REQUIRE_MESSAGE(fd.ok(), fd.status().message());
    struct stat info;
    REQUIRE(stat(address.path.c_str(), &info) == 0);
    CHECK(S_ISSOCK(info.st_mode));
    CHECK((info.st_mode & 0777) == 0660);
    close(fd.value());  // The file stays behind, stale, for the second round.
  }
}

TEST_CASE("a unix socket another process accepts on is refused, and keeps serving") {
  testing::TempDir dir;
  ListenAddress address;
  address.path = dir.file("hc.sock");
  ScopedFd live(BindUnix(address.path, true));
  REQUIRE(live.get() >= 0);
  Result<int> fd = OpenListeningSocket(address);
  if (fd.ok()) close(fd.value());
  REQUIRE_FALSE(fd.ok());
  CHECK(fd.status().message() ==
        "unix:" + address.path + ": in use by another process; not taking it over");
  CHECK(Connects(address.path));  // Still the live server's socket.
}

TEST_CASE("a stale unix socket (bound, closed, never removed) is taken over") {
  testing::TempDir dir;
  ListenAddress address;
  address.path = dir.file("hc.sock");
  int stale = BindUnix(address.path, false);
  REQUIRE(stale >= 0);
  close(stale);  // The file stays: nobody accepts on it.
  REQUIRE(testing::Exists(address.path));
  REQUIRE_FALSE(Connects(address.path));
  Result<int> fd = OpenListeningSocket(address);
  REQUIRE_MESSAGE(fd.ok(), fd.status().message());
  ScopedFd listener(fd.value());
  struct stat info;
  REQUIRE(stat(address.path.c_str(), &info) == 0);
  CHECK(S_ISSOCK(info.st_mode));
  CHECK((info.st_mode & 0777) == 0660);
  CHECK(Connects(address.path));
}

TEST_CASE("fd 0 is taken for a FastCGI listener only when it is a listening socket") {
  testing::TempDir dir;
  ScopedFd listening(BindUnix(dir.file("listening.sock"), true));
  REQUIRE(listening.get() >= 0);
  ScopedFd bound(BindUnix(dir.file("bound.sock"), false));
  REQUIRE(bound.get() >= 0);
  int pair[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  ScopedFd connected(pair[0]);
  ScopedFd peer(pair[1]);
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  ScopedFd pipe_reader(pipe_fds[0]);
  ScopedFd pipe_writer(pipe_fds[1]);
  {
    ScopedStdin stdin_is(listening.get());
    CHECK(StdinIsListeningSocket());
  }
  for (int fd : {bound.get(), connected.get(), pipe_reader.get()}) {
    CAPTURE(fd);
    ScopedStdin stdin_is(fd);
    CHECK_FALSE(StdinIsListeningSocket());
  }
}

TEST_CASE("a unix socket never replaces a file that is not a socket") {
  testing::TempDir dir;
  ListenAddress address;
  address.path = dir.file("important");
  testing::WriteFile(address.path, "data");
  Result<int> fd = OpenListeningSocket(address);
  REQUIRE_FALSE(fd.ok());
  CHECK(fd.status().message() ==
        "unix:" + address.path + ": exists and is not a socket; not replacing it");
  CHECK(testing::ReadFile(address.path) == "data");
}

TEST_CASE("a TCP socket on loopback listens; a busy port is an error") {
  auto address = ParseListenAddress("127.0.0.1:39000", PublicBinding::kRefuse);
  REQUIRE(address.ok());
  ListenAddress first = address.value();
  // The first free port in a range: another test run may hold one.
  for (int port = 39000; port < 39100; ++port) {
    first.port = port;
    Result<int> fd = OpenListeningSocket(first);
    if (!fd.ok()) continue;
    Result<int> again = OpenListeningSocket(first);
    REQUIRE_FALSE(again.ok());
    CHECK(again.status().message() ==
          "127.0.0.1:" + std::to_string(port) + ": Address already in use");
    close(fd.value());
    return;
  }
  FAIL("no free port between 39000 and 39100");
}

TEST_CASE("ports must be whole numbers from 1 to 65535") {
  const std::string kExpected = ": expected unix:/path, 127.0.0.1:PORT or [::1]:PORT";
  for (const char* text : {"127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:123456",
                           "127.0.0.1: 80", "[::1]:", "[::1]", "localhost"}) {
    CAPTURE(text);
    CHECK(ErrorOf(text) == "--listen " + std::string(text) + kExpected);
  }
  auto lowest = ParseListenAddress("127.0.0.1:1", PublicBinding::kRefuse);
  REQUIRE(lowest.ok());
  CHECK(lowest->port == 1);
  auto highest = ParseListenAddress("[::1]:65535", PublicBinding::kRefuse);
  REQUIRE(highest.ok());
  CHECK(highest->port == 65535);
}

TEST_CASE("allowing public binding admits any numeric address, not names") {
  auto any = ParseListenAddress("0.0.0.0:9000", PublicBinding::kAllow);
  REQUIRE(any.ok());
  CHECK(any->host == "0.0.0.0");
  auto v6 = ParseListenAddress("[::]:9000", PublicBinding::kAllow);
  REQUIRE(v6.ok());
  CHECK(v6->host == "::");
  CHECK(ErrorOf("example.com:80", PublicBinding::kAllow) ==
        "--listen example.com:80: expected unix:/path, 127.0.0.1:PORT or [::1]:PORT");
}

TEST_CASE("a unix socket is created 0660 whatever the process umask") {
  testing::TempDir dir;
  ListenAddress address;
  address.path = dir.file("hc.sock");
  mode_t old_mask = umask(0);
  Result<int> fd = OpenListeningSocket(address);
  umask(old_mask);
  REQUIRE_MESSAGE(fd.ok(), fd.status().message());
  struct stat info;
  REQUIRE(stat(address.path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0660);
  close(fd.value());
}

TEST_CASE("a unix socket never replaces a folder or a symlink") {
  testing::TempDir dir;
  ListenAddress folder;
  folder.path = dir.file("folder");
  REQUIRE(mkdir(folder.path.c_str(), 0755) == 0);
  Result<int> over_folder = OpenListeningSocket(folder);
  REQUIRE_FALSE(over_folder.ok());
  CHECK(over_folder.status().message() ==
        "unix:" + folder.path + ": exists and is not a socket; not replacing it");
  ListenAddress link;
  link.path = dir.file("link");
  REQUIRE(symlink(dir.file("target").c_str(), link.path.c_str()) == 0);
  Result<int> over_link = OpenListeningSocket(link);
  REQUIRE_FALSE(over_link.ok());
  CHECK(over_link.status().message() ==
        "unix:" + link.path + ": exists and is not a socket; not replacing it");
}

TEST_CASE("a handed-over socket on a public address is refused unless allowed") {
  // Bound, never listening: nothing on the network can reach it.
  int wildcard = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(wildcard >= 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  REQUIRE(bind(wildcard, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0);
  Status refused = CheckHandedOverSocket(wildcard, PublicBinding::kRefuse);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.message().find("is a socket on 0.0.0.0 port ") != std::string::npos);
  CHECK(refused.message().find("not a loopback address") != std::string::npos);
  CHECK(CheckHandedOverSocket(wildcard, PublicBinding::kAllow).ok());
  close(wildcard);

  int loopback = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(loopback, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
  CHECK(CheckHandedOverSocket(loopback, PublicBinding::kRefuse).ok());
  close(loopback);

  int unix_socket = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(CheckHandedOverSocket(unix_socket, PublicBinding::kRefuse).ok());
  close(unix_socket);
}

TEST_CASE("socket owner and group numbers past the largest id are refused, not wrapped") {
  Options options;
  options.socket_owner = "4294967295";  // (uid_t)-1: "leave unchanged" to chown.
  CHECK(ResolveSocketAccess(options).status().message() ==
        "--socket-owner 4294967295: larger than the largest id, 4294967294");
  options.socket_owner = "4294967296";  // Would wrap to root.
  CHECK_FALSE(ResolveSocketAccess(options).ok());
  options.socket_owner = "9999999999";
  CHECK_FALSE(ResolveSocketAccess(options).ok());
  options.socket_owner = "4294967294";
  CHECK(ResolveSocketAccess(options).ok());
  options.socket_owner.reset();
  options.socket_group = "4294967296";
  CHECK(ResolveSocketAccess(options).status().message() ==
        "--socket-group 4294967296: larger than the largest id, 4294967294");
}

// ParseListenAddress and OpenListeningSocket on BSD sockets.
#include "listen_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>

namespace healthcheck {
namespace {

constexpr int kListenBacklog = 1024;  // The kernel caps it at net.core.somaxconn.
constexpr mode_t kUnixSocketMode = 0660;

bool IsLoopback(const std::string& host) {
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return host == "::1";
}

Status SystemError(const std::string& doing) {
  return Status::Error(doing + ": " + strerror(errno));
}

// Ok when nobody accepts on the unix socket at `address` (a connection is
// refused): it was left by a process that is gone.
Status CheckNobodyListens(const sockaddr_un& address) {
  std::string name = std::string("unix:") + address.sun_path;
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (probe < 0) return SystemError("socket");
  int connected = connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  int error = errno;
  close(probe);
  // A full backlog (EAGAIN) is a live server too.
  if (connected == 0 || error == EAGAIN) {
    return Status::Error(name + ": in use by another process; not taking it over");
  }
  if (error == ECONNREFUSED) return Status::Ok();
  return Status::Error(name + ": cannot tell whether it is in use (" + strerror(error) +
                       "); not replacing it");
}

Result<int> OpenUnixSocket(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    return Status::Error("unix:" + path + ": path longer than " +
                         std::to_string(sizeof address.sun_path - 1) + " bytes");
  }
  memcpy(address.sun_path, path.c_str(), path.size() + 1);
  struct stat existing;
  if (lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      return Status::Error("unix:" + path + ": exists and is not a socket; not replacing it");
    }
    Status stale = CheckNobodyListens(address);
    if (!stale.ok()) return stale;
    unlink(path.c_str());  // A socket left by an earlier run.
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return SystemError("socket");
  // The mode applies from the moment the file exists, not just after chmod.
  mode_t old_mask = umask(0777 & ~kUnixSocketMode);
  int bound = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  umask(old_mask);
  if (bound != 0 || chmod(path.c_str(), kUnixSocketMode) != 0 || listen(fd, kListenBacklog) != 0) {
    Status error = SystemError("unix:" + path);
    close(fd);
    return error;
  }
  return fd;
}

Result<int> OpenTcpSocket(const ListenAddress& listen_address) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  if (listen_address.host.find(':') != std::string::npos) {
    family = AF_INET6;
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(listen_address.port));
    inet_pton(AF_INET6, listen_address.host.c_str(), &v6->sin6_addr);
    length = sizeof *v6;
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(listen_address.port));
    inet_pton(AF_INET, listen_address.host.c_str(), &v4->sin_addr);
    length = sizeof *v4;
  }
  std::string name = listen_address.host + ":" + std::to_string(listen_address.port);
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return SystemError("socket");
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
      listen(fd, kListenBacklog) != 0) {
    Status error = SystemError(name);
    close(fd);
    return error;
  }
  return fd;
}

}  // namespace

Result<ListenAddress> ParseListenAddress(const std::string& text, PublicBinding public_binding) {
  ListenAddress address;
  if (text.rfind("unix:", 0) == 0) {
    address.kind = ListenAddress::Kind::kUnix;
    address.path = text.substr(5);
    if (address.path.empty()) return Status::Error("--listen " + text + ": expected unix:/path");
    return address;
  }
  const std::string expected =
      "--listen " + text + ": expected unix:/path, 127.0.0.1:PORT or [::1]:PORT";
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return Status::Error(expected);
  std::string host = text.substr(0, colon);
  std::string port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = "127.0.0.1";
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::atoi(port.c_str()) < 1 || std::atoi(port.c_str()) > 65535) {
    return Status::Error(expected);
  }
  bool any_address = host.empty();
  if (any_address) host = "0.0.0.0";
  unsigned char scratch[sizeof(in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), scratch) != 1 &&
      inet_pton(AF_INET6, host.c_str(), scratch) != 1) {
    return Status::Error(expected);
  }
  if (!IsLoopback(host) && public_binding != PublicBinding::kAllow) {
    return Status::Error("--listen " + text +
                         ": not a loopback address; the FastCGI socket must not face the "
                         "network (add --allow-public if a firewall guards it)");
  }
  address.kind = ListenAddress::Kind::kTcp;
  address.host = host;
  address.port = std::atoi(port.c_str());
  return address;
}

Result<int> OpenListeningSocket(const ListenAddress& address) {
  if (address.kind == ListenAddress::Kind::kUnix) return OpenUnixSocket(address.path);
  return OpenTcpSocket(address);
}

bool StdinIsListeningSocket() {
  int listening = 0;
  socklen_t length = sizeof listening;
  return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening != 0;
}

}  // namespace healthcheck

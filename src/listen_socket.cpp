// ParseListenAddress and OpenListeningSocket on BSD sockets.
#include "listen_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>

#include "system_users.h"

namespace healthcheck {
namespace {

constexpr int kListenBacklog = 1024;  // The kernel caps it at net.core.somaxconn.
// The sd_listen_fds protocol's first descriptor.
constexpr int kSystemdFirstFd = 3;

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

// A user or group (`kind`) by name, else by number.
template <typename Id, typename Lookup>
Result<Id> ResolveId(const std::string& flag, const char* kind, const std::string& text,
                     Lookup lookup) {
  if (std::optional<Id> found = lookup(text)) return *found;
  bool numeric = !text.empty() && text.size() <= 10 &&
                 text.find_first_not_of("0123456789") == std::string::npos;
  // (Id)-1 means "unchanged" to chown(2): the largest id is one less.
  if (numeric) {
    unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
    if (value < static_cast<unsigned long long>(static_cast<Id>(-1))) return static_cast<Id>(value);
    return Status::Error(flag + " " + text + ": larger than the largest id, " +
                         std::to_string(static_cast<Id>(-1) - 1));
  }
  return Status::Error(flag + " " + text + ": no such " + kind + " on this machine");
}

bool IsListeningSocket(int fd) {
  int listening = 0;
  socklen_t length = sizeof listening;
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening != 0;
}

Result<int> OpenUnixSocket(const std::string& path, const UnixSocketAccess& access) {
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
  // The file is made with its mode (umask; this runs before any thread
  // starts), then given its owner with lchown: never chmod or chown by
  // path, which follow a symlink someone who can write the folder swapped
  // in after the bind. It listens last: no one connects before that.
  mode_t old_mask = umask(0777 & ~access.mode);
  int bound = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  umask(old_mask);
  if (bound != 0) {
    Status error = SystemError("unix:" + path);
    close(fd);
    return error;
  }
  const char* failed = nullptr;
  if (lchown(path.c_str(), access.owner, access.group) != 0) {
    failed = "cannot give the socket to its owner and group";
  } else if (listen(fd, kListenBacklog) != 0) {
    failed = "cannot listen";
  }
  if (failed != nullptr) {
    Status error = Status::Error("unix:" + path + ": " + failed + " (" + access.description +
                                 "): " + strerror(errno));
    close(fd);
    unlink(path.c_str());
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
  if (address.kind == ListenAddress::Kind::kUnix) return OpenUnixSocket(address.path, address.access);
  return OpenTcpSocket(address);
}

Result<UnixSocketAccess> ResolveSocketAccess(const Options& options) {
  UnixSocketAccess access;
  std::string owner_text = "the running user", group_text = "the running group";
  if (options.socket_owner) {
    Result<uid_t> uid =
        ResolveId<uid_t>("--socket-owner", "user", *options.socket_owner, FindUserId);
    if (!uid.ok()) return uid.status();
    access.owner = uid.value();
    owner_text = "owner " + *options.socket_owner;
  }
  if (options.socket_group) {
    Result<gid_t> gid =
        ResolveId<gid_t>("--socket-group", "group", *options.socket_group, FindGroupId);
    if (!gid.ok()) return gid.status();
    access.group = gid.value();
    group_text = "group " + *options.socket_group;
  }
  if (options.socket_mode) {
    const std::string& text = *options.socket_mode;
    bool octal = !text.empty() && text.size() <= 4 &&
                 text.find_first_not_of("01234567") == std::string::npos;
    mode_t mode = octal ? static_cast<mode_t>(std::strtoul(text.c_str(), nullptr, 8)) : 0;
    // The responder's own user must keep read and write; nothing else
    // (setuid, sticky) means anything on a socket.
    if (!octal || (mode & 0600) != 0600 || mode > 0777) {
      return Status::Error("--socket-mode " + text +
                           ": expected an octal mode from 0600 to 0777 with rw for the owner, "
                           "like 0660");
    }
    access.mode = mode;
  }
  char mode[8];
  snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(access.mode));
  access.description = owner_text + ", " + group_text + ", mode " + mode;
  return access;
}

Result<std::optional<int>> SystemdListenSocket() {
  const char* pid_text = getenv("LISTEN_PID");
  if (pid_text == nullptr) return std::optional<int>();
  std::string pid = pid_text;
  std::string fds = getenv("LISTEN_FDS") != nullptr ? getenv("LISTEN_FDS") : "";
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  if (pid != std::to_string(getpid())) return std::optional<int>();  // Not for us.
  if (fds != "1") {
    return Status::Error("LISTEN_FDS=" + fds +
                         ": expected exactly one socket from systemd (one ListenStream= in "
                         "the .socket unit)");
  }
  if (!IsListeningSocket(kSystemdFirstFd)) {
    return Status::Error("LISTEN_FDS=1, but fd 3 is not a listening socket (Accept=no in the "
                         ".socket unit, and a stream socket)");
  }
  fcntl(kSystemdFirstFd, F_SETFD, FD_CLOEXEC);  // Not for the commands we run.
  return std::optional<int>(kSystemdFirstFd);
}

bool StdinIsListeningSocket() { return IsListeningSocket(0); }

Status CheckHandedOverSocket(int fd, PublicBinding public_binding) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return SystemError("fd " + std::to_string(fd));
  }
  char host[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (storage.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    port = ntohs(v4->sin_port);
  } else if (storage.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    port = ntohs(v6->sin6_port);
  } else {
    return Status::Ok();  // A unix socket: its file's mode guards it.
  }
  if (IsLoopback(host) || public_binding == PublicBinding::kAllow) return Status::Ok();
  return Status::Error("fd " + std::to_string(fd) + " is a socket on " + host + " port " +
                       std::to_string(port) +
                       ", not a loopback address; the FastCGI socket must not face the network "
                       "(spawn-fcgi: add -a 127.0.0.1; or add --allow-public if a firewall "
                       "guards it)");
}

}  // namespace healthcheck

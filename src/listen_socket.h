// Where --listen binds, and the listening socket itself. Only loopback and
// unix sockets unless the operator says --allow-public: a health responder's
// FastCGI socket must never face the network (anyone who can reach it can
// abort Debian's libfcgi with one packet).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "cli_options.h"
#include "status.h"

namespace healthcheck {

// Who may use a unix socket: its file's owner, group and mode.
struct UnixSocketAccess {
  uid_t owner = static_cast<uid_t>(-1);  // -1: the running user.
  gid_t group = static_cast<gid_t>(-1);  // -1: the running group.
  mode_t mode = 0660;
  std::string description;  // "owner root, group www-data, mode 0660", for messages.
};

// Resolves --socket-owner, --socket-group (names or numbers) and
// --socket-mode (octal) against this machine's users and groups.
Result<UnixSocketAccess> ResolveSocketAccess(const Options& options);

struct ListenAddress {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix
  UnixSocketAccess access;  // kUnix
  std::string host;  // kTcp: a numeric IPv4 or IPv6 address
  int port = 0;      // kTcp
};

// "unix:/run/healthcheck.sock", "127.0.0.1:9000", "[::1]:9000", "localhost:9000";
// ":9000" and other non-loopback addresses need PublicBinding::kAllow.
Result<ListenAddress> ParseListenAddress(const std::string& text, PublicBinding public_binding);

// A listening socket (close-on-exec). A unix socket replaces a stale socket
// file (nobody accepts on it), refuses to take over one that is in use or to
// replace anything else, and gets its access (by default mode 0660) before
// it listens.
Result<int> OpenListeningSocket(const ListenAddress& address);

// The socket systemd hands over by the sd_listen_fds protocol: fd 3 when
// LISTEN_PID is this process and LISTEN_FDS is 1. Nothing when LISTEN_PID
// is unset or another process's (an inherited environment); an error when
// the variables or fd 3 are not what the protocol says. Unsets the
// variables, so that nothing this process starts takes them for its own.
Result<std::optional<int>> SystemdListenSocket();

// Ok when the listening socket `fd`, handed over by spawn-fcgi or systemd,
// is a unix socket or on a loopback address; else (spawn-fcgi -p PORT
// without -a binds 0.0.0.0) refused unless PublicBinding::kAllow.
Status CheckHandedOverSocket(int fd, PublicBinding public_binding);

// True when fd 0 is a listening socket handed over by spawn-fcgi, systemd,
// mod_fcgid or lighttpd; false under plain CGI or in a terminal. Asks the
// kernel, not libfcgi (whose FCGX_IsCGI installs signal handlers).
bool StdinIsListeningSocket();

}  // namespace healthcheck

// Where --listen binds, and the listening socket itself. Only loopback and
// unix sockets unless the operator says --allow-public: a health responder's
// FastCGI socket must never face the network (anyone who can reach it can
// abort Debian's libfcgi with one packet).
#pragma once

#include <string>

#include "cli_options.h"
#include "status.h"

namespace healthcheck {

struct ListenAddress {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix
  std::string host;  // kTcp: a numeric IPv4 or IPv6 address
  int port = 0;      // kTcp
};

// "unix:/run/healthcheck.sock", "127.0.0.1:9000", "[::1]:9000", "localhost:9000";
// ":9000" and other non-loopback addresses need PublicBinding::kAllow.
Result<ListenAddress> ParseListenAddress(const std::string& text, PublicBinding public_binding);

// A listening socket (close-on-exec). A unix socket replaces a stale socket
// file (nobody accepts on it), refuses to take over one that is in use or to
// replace anything else, and gets mode 0660.
Result<int> OpenListeningSocket(const ListenAddress& address);

// True when fd 0 is a listening socket handed over by spawn-fcgi, systemd,
// mod_fcgid or lighttpd; false under plain CGI or in a terminal. Asks the
// kernel, not libfcgi (whose FCGX_IsCGI installs signal handlers).
bool StdinIsListeningSocket();

}  // namespace healthcheck

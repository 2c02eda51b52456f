// The FastCGI front end: a pool of threads answering on one listening socket
// through libfcgi. The only file that includes fcgiapp.h.
#pragma once

#include <functional>
#include <memory>

#include "app.h"
#include "log.h"

namespace healthcheck {

struct ServerOptions {
  int threads = 4;
  // Builds a fresh App from the configuration file on SIGHUP; empty when
  // there is no file to re-read. A failed reload keeps the running App.
  std::function<Result<std::shared_ptr<const App>>()> reload;
};

// True when fd 0 is a listening socket handed over by spawn-fcgi, systemd,
// mod_fcgid or lighttpd; false under plain CGI or in a terminal.
bool StdinIsFastCgiListener();

// Serves until SIGTERM, SIGINT or SIGUSR1, then lets in-flight requests finish and
// returns an exit code. `log` gets the process's own messages; each failed
// check is logged on its request's FastCGI stderr stream.
int ServeFastCgi(int listen_fd, std::shared_ptr<const App> app, const ServerOptions& options,
                 Log& log);

}  // namespace healthcheck

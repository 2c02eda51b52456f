// The supervisor (--workers N), modelled on php-fpm's process manager: a
// master process owns the listening socket and keeps N worker processes
// serving on it. A worker that dies (a signal, libfcgi's abort on a hostile
// record) is replaced at once and the death is logged; one stuck on a
// request past a hard limit, or grown past a memory limit, is killed or
// recycled. SIGHUP reloads the configuration by replacing the workers;
// SIGTERM lets them finish in-flight requests and exits 0.
#pragma once

#include <memory>

#include "app.h"
#include "fastcgi_server.h"
#include "log.h"

namespace healthcheck {

struct SupervisorOptions {
  int workers = 2;
  ServerOptions worker;  // Threads, idle timeout and max requests of each worker.
  // A worker resident past this is recycled: Debian's libfcgi leaks ~62
  // bytes on every unknown-type management record, without bound.
  int64_t max_worker_rss_bytes = 64LL << 20;
};

// Runs the master loop until SIGTERM, SIGINT or SIGUSR1; returns the exit code.
int Supervise(int listen_fd, std::shared_ptr<const App> app, const SupervisorOptions& options,
              Log& log);

}  // namespace healthcheck

// The FastCGI front end: a pool of threads answering on one listening socket
// through libfcgi. The only file that includes fcgiapp.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "app.h"
#include "log.h"

namespace healthcheck {

inline constexpr int64_t kDefaultIdleTimeoutMs = 10000;
inline constexpr int64_t kDefaultMaxRssBytes = 64LL << 20;

struct ServerOptions {
  int threads = 4;
  // A connection whose request has not arrived within this long, or idle
  // this long between requests, is dropped, so silent peers cannot pin
  // threads: libfcgi has no read timeouts of its own.
  int64_t idle_timeout_ms = kDefaultIdleTimeoutMs;
  // Stop after this many requests (0: never), to be replaced by the master.
  int64_t max_requests = 0;
  // Resident memory past which every connection still sending its request
  // is dropped: libfcgi keeps a request's parameters without a cap, so a
  // peer streaming them could otherwise grow the process until it aborts.
  int64_t max_rss_bytes = kDefaultMaxRssBytes;
  // Builds a fresh App from the configuration file on SIGHUP; empty when
  // there is no file to re-read. A failed reload keeps the running App.
  std::function<Result<std::shared_ptr<const App>>()> reload;
  // One slot per thread, where each thread publishes since when (steady
  // clock, ms) it has been answering a request, 0 when it is not. The master
  // reads these from shared memory to find stuck workers. May be null.
  std::atomic<int64_t>* busy_since_ms = nullptr;
  // Counts the requests this process answered, for the master. May be null.
  std::atomic<int64_t>* answered = nullptr;
};

// Milliseconds on the steady clock, comparable between processes.
int64_t SteadyNowMs();

// Serves until SIGTERM, SIGINT or SIGUSR1 (or max_requests), then lets
// in-flight requests finish and returns an exit code. `log` gets the
// process's own messages; each failed check is logged on its request's
// FastCGI stderr stream, which the web server puts in its error log.
int ServeFastCgi(int listen_fd, std::shared_ptr<const App> app, const ServerOptions& options,
                 Log& log);

}  // namespace healthcheck

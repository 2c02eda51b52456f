// Acceptor: takes connections off the listening socket for the FastCGI
// workers, and wakes every waiting worker at once when the server stops.
//
// libfcgi can accept by itself, but then a worker blocks where nothing can
// reach it without a signal, and a signal cannot tell a worker waiting for
// a connection from one reading a connection it has just taken. Here the
// worker waits in poll() on the socket and a stop event; it accepts only
// when a connection is there, so stopping never drops one.
#pragma once

#include <cstdint>
#include <memory>

#include "log.h"
#include "status.h"

namespace healthcheck {

// Whether accept(2) failing with `error` is worth another try: the
// listening socket is fine, only this connection (or this moment) is not.
bool AcceptErrorIsTransient(int error);

class Acceptor {
 public:
  enum class Wait { kReadable, kStopped, kTimedOut };

  // Makes the listening socket non-blocking (every process sharing it is a
  // healthcheck worker doing the same) and creates the stop event.
  static Result<std::unique_ptr<Acceptor>> Create(int listen_fd, Log& log);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // The next connection (blocking, close-on-exec, TCP_NODELAY on TCP), or -1
  // once Stop() was called. Transient failures (out of descriptors or
  // memory) are logged and retried with a backoff; an error means the
  // socket itself is unusable.
  Result<int> Accept();

  // Waits until `fd` has something to read, the server stops, or
  // `timeout_ms` passes.
  Wait WaitReadable(int fd, int64_t timeout_ms);

  // Wakes every Accept and WaitReadable, now and later.
  void Stop();

 private:
  Acceptor(int listen_fd, int stop_fd, bool tcp, Log& log)
      : listen_fd_(listen_fd), stop_fd_(stop_fd), tcp_(tcp), log_(log) {}

  int listen_fd_;
  int stop_fd_;  // An eventfd: readable once the server stops.
  bool tcp_;
  Log& log_;
};

}  // namespace healthcheck

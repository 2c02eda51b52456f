// What the mysql and postgresql cursors share, whatever the client
// library: waiting on the server's socket against a deadline, the time a
// statement may run on the server, which settings a kept connection was
// made with, and Python's truth of a value a server sent as text.
#pragma once

#include <poll.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../config.h"
#include "../deadline.h"
#include "../worker_context.h"
#include "../status.h"

namespace healthcheck {

// When a check stops waiting for the server: its deadline, or the
// cursor_backend's timeout_ms from now, whichever comes first.
Deadline ServerWaitEnd(const CursorBackendSettings& settings, const Deadline& deadline);

enum class SocketWait { kReady, kTimedOut, kFailed };

// poll(2) on `fd` for `events` until ready or `until` (sooner when
// `cap_ms` >= 0, the library's own timer); `revents` gets what happened.
// EINTR resumes the wait.
SocketWait WaitForSocket(int fd, short events, const Deadline& until, int64_t cap_ms,
                         short* revents);

// Every address `host` names, as text ("192.0.2.7", "2001:db8::7"), in the
// resolver's order (as a client library would try them), found by `until`:
// getaddrinfo(3) has no timeout of its own, and a resolver that does not
// answer would otherwise hold the check past its deadline. The look-up
// runs on a thread of its own, which finishes (and is forgotten) after a
// check that stopped waiting for it. An address is returned as is.
Result<std::vector<std::string>> ResolveAddresses(const std::string& host, const Deadline& until);

// When the round trip that proves a kept connection stops waiting: a
// quarter of the time left, so that a connection gone silent (a firewall
// that forgot it) still leaves time to replace it within the same check.
Deadline KeptRoundTripEnd(const Deadline& until);

// How long before the deadline a check stops waiting for a query that the
// server's own time limit did not stop, to stop it itself and still answer
// on time.
int64_t CancelReserveMs(int64_t remaining_ms);

// How long a statement may run on the server when `remaining_ms` are left:
// enough less that the server stops it, and says so, before the check's
// deadline passes. 0: too little time left to start one.
int64_t StatementBudgetMs(int64_t remaining_ms);

// Everything a connection was made with, so that a kept connection is only
// used again by a check with the same settings (a reload may change the
// user or the password). Held in memory only, never written anywhere.
std::string ConnectionFingerprint(const CursorBackendSettings& settings);

// A connection a worker keeps to a database server (mysql, postgresql):
// made with the settings whose fingerprint it holds, and fit for the next
// request only once its last use proved it and no wait on it was cut short.
class ServerConnection : public KeptConnection {
 public:
  explicit ServerConnection(std::string fingerprint) : fingerprint_(std::move(fingerprint)) {}

  const std::string& fingerprint() const { return fingerprint_; }
  bool FitToKeep() override { return proven_ && !stalled_; }
  void set_proven(bool proven) { proven_ = proven; }
  // A wait for the server ended without its answer: the connection is in
  // the middle of an exchange, and is closed after the request.
  void set_stalled() { stalled_ = true; }
  bool stalled() const { return stalled_; }

 private:
  std::string fingerprint_;
  bool proven_ = false;
  bool stalled_ = false;
};

// The worker's connection to the server for this check, kept under `name`:
// the kept one when it was made with these settings and `answers_again(
// connection, by)` proves it within KeptRoundTripEnd(until); else a new one,
// `connect(until)`, which the worker then keeps. A kept connection that
// fails is closed and replaced within the same check: it can only say yes.
template <typename Connection, typename AnswersAgain, typename Connect>
Result<Connection*> ProvenConnection(WorkerContext& worker, const std::string& name,
                                     const CursorBackendSettings& settings, const Deadline& until,
                                     AnswersAgain answers_again, Connect connect) {
  std::unique_ptr<KeptConnection>& kept = worker.kept(name);
  if (auto* connection = dynamic_cast<Connection*>(kept.get())) {
    connection->set_proven(false);
    if (connection->fingerprint() == ConnectionFingerprint(settings) &&
        answers_again(*connection, KeptRoundTripEnd(until))) {
      connection->set_proven(true);
      return connection;
    }
    kept.reset();
  }
  Result<std::unique_ptr<Connection>> connected = connect(until);
  if (!connected.ok()) return connected.status();
  kept = std::move(connected.value());
  return static_cast<Connection*>(kept.get());
}

// How a server typed a value it sent as text.
enum class ValueKind { kNumber, kBoolean, kDuration, kText };

// Python's truth of the value: a number is truthy when not zero, a boolean
// when true ("t", "1"), a duration ("00:00:00", a timedelta) when not
// zero, text when not empty.
bool IsTruthy(std::string_view text, ValueKind kind);

}  // namespace healthcheck

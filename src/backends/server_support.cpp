// The helpers shared by the mysql and postgresql cursors.
#include "server_support.h"

#include <errno.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>

namespace healthcheck {

Deadline ServerWaitEnd(const CursorBackendSettings& settings, const Deadline& deadline) {
  Deadline own = Deadline::FromNow(settings.busy_timeout_ms);
  return own.when() < deadline.when() ? own : deadline;
}

SocketWait WaitForSocket(int fd, short events, const Deadline& until, int64_t cap_ms,
                         short* revents) {
  for (;;) {
    auto left = until.when() - Deadline::Clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return SocketWait::kTimedOut;
    // Rounded up: poll's milliseconds would otherwise wake early and spin.
    int64_t wait_ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    bool capped = cap_ms >= 0 && cap_ms < wait_ms;
    if (capped) wait_ms = cap_ms;
    struct pollfd watched = {fd, events, 0};
    int ready = poll(&watched, 1, static_cast<int>(wait_ms));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return SocketWait::kFailed;
    *revents = watched.revents;
    if (ready > 0 || capped) return SocketWait::kReady;
  }
}

int64_t StatementBudgetMs(int64_t remaining_ms) {
  // The server's stop and its answer take a few milliseconds; on a loaded
  // machine more. A tenth of the time left, at least 20 ms, is kept for it.
  int64_t budget = remaining_ms - std::max<int64_t>(20, remaining_ms / 10);
  return budget > 0 ? budget : 0;
}

std::string ConnectionFingerprint(const CursorBackendSettings& settings) {
  const ServerSettings& server = settings.server;
  std::string fingerprint = DriverName(settings.driver);
  for (const std::string* part : {&server.host, &server.socket, &server.username, &server.password,
                                  &server.database, &server.ssl_ca}) {
    fingerprint += '\0' + *part;
  }
  return fingerprint + '\0' + std::to_string(server.port);
}

bool IsTruthy(std::string_view text, ValueKind kind) {
  switch (kind) {
    case ValueKind::kBoolean:
      return text == "t" || text == "1" || text == "true";
    case ValueKind::kNumber: {
      // Integers, decimals and floats ("0", "0.000", "-0", "0e0"): zero
      // is the only falsy number.
      std::string copy(text);
      char* end = nullptr;
      double value = strtod(copy.c_str(), &end);
      if (end == copy.c_str()) return !text.empty();  // Not a number after all.
      return value != 0.0;
    }
    case ValueKind::kText:
      break;
  }
  return !text.empty();
}

}  // namespace healthcheck

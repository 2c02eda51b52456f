// The helpers shared by the mysql and postgresql cursors.
#include "server_support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

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

namespace {

bool IsAddress(const std::string& host) {
  unsigned char bytes[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), bytes) == 1 || inet_pton(AF_INET6, host.c_str(), bytes) == 1;
}

// What the resolver's thread and the waiting check share; whichever is
// last to let go frees it.
struct Lookup {
  std::mutex mutex;
  std::condition_variable done_signal;
  bool done = false;
  int error = 0;
  std::vector<std::string> addresses;
};

void RunLookup(const std::shared_ptr<Lookup>& lookup, const std::string& host) {
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* found = nullptr;
  int error = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  std::vector<std::string> addresses;
  for (struct addrinfo* each = error == 0 ? found : nullptr; each != nullptr; each = each->ai_next) {
    char text[INET6_ADDRSTRLEN] = "";
    if (getnameinfo(each->ai_addr, each->ai_addrlen, text, sizeof text, nullptr, 0,
                    NI_NUMERICHOST) == 0) {
      addresses.push_back(text);
    }
  }
  if (found != nullptr) freeaddrinfo(found);
  std::lock_guard<std::mutex> hold(lookup->mutex);
  lookup->error = error;
  lookup->addresses = std::move(addresses);
  lookup->done = true;
  lookup->done_signal.notify_all();
}

}  // namespace

Result<std::vector<std::string>> ResolveAddresses(const std::string& host, const Deadline& until) {
  if (IsAddress(host)) return std::vector<std::string>{host};
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread(RunLookup, lookup, host).detach();
  } catch (const std::system_error&) {
    return Status::Error("cannot look up " + host + ": no thread for the resolver");
  }
  std::unique_lock<std::mutex> hold(lookup->mutex);
  if (!lookup->done_signal.wait_until(hold, until.when(), [&] { return lookup->done; })) {
    return Status::Error("cannot look up " + host + ": no answer from the resolver in time");
  }
  if (lookup->error != 0) {
    return Status::Error("cannot look up " + host + ": " + gai_strerror(lookup->error));
  }
  if (lookup->addresses.empty()) return Status::Error("cannot look up " + host + ": no address");
  return lookup->addresses;
}

Deadline KeptRoundTripEnd(const Deadline& until) {
  auto left = until.when() - Deadline::Clock::now();
  return left > Deadline::Clock::duration::zero() ? Deadline(Deadline::Clock::now() + left / 4)
                                                   : until;
}

int64_t CancelReserveMs(int64_t remaining_ms) {
  // Half of what StatementBudgetMs keeps back: the server's limit comes
  // first, then ours, then the answer.
  return std::max<int64_t>(10, remaining_ms / 20);
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
    case ValueKind::kDuration:
      // "00:00:00", "-00:00:00.000000": zero when no digit is not 0.
      return text.find_first_of("123456789") != std::string_view::npos;
    case ValueKind::kText:
      break;
  }
  return !text.empty();
}

}  // namespace healthcheck

// The helpers the mysql and postgresql cursors share: truth of a value
// sent as text, a statement's time on the server, the fingerprint of a
// kept connection's settings, and the bounded socket wait.
#include "../../src/backends/server_support.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

using namespace healthcheck;

TEST_CASE("IsTruthy follows Python: zero, false and empty are falsy") {
  CHECK_FALSE(IsTruthy("0", ValueKind::kNumber));
  CHECK_FALSE(IsTruthy("0.000", ValueKind::kNumber));
  CHECK_FALSE(IsTruthy("-0", ValueKind::kNumber));
  CHECK(IsTruthy("1", ValueKind::kNumber));
  CHECK(IsTruthy("-2.5", ValueKind::kNumber));
  CHECK(IsTruthy("0.001", ValueKind::kNumber));
  CHECK_FALSE(IsTruthy("f", ValueKind::kBoolean));
  CHECK(IsTruthy("t", ValueKind::kBoolean));
  CHECK_FALSE(IsTruthy("", ValueKind::kText));
  CHECK(IsTruthy("0", ValueKind::kText));  // The string "0" is truthy in Python.
  CHECK(IsTruthy("no", ValueKind::kText));
}

TEST_CASE("StatementBudgetMs leaves the server time to stop a query and say so") {
  CHECK(StatementBudgetMs(2000) == 1800);
  CHECK(StatementBudgetMs(100) == 80);
  CHECK(StatementBudgetMs(20) == 0);
  CHECK(StatementBudgetMs(0) == 0);
}

TEST_CASE("ConnectionFingerprint changes with any setting, the password included") {
  CursorBackendSettings settings;
  settings.driver = DatabaseDriver::kMysql;
  settings.server.host = "h";
  settings.server.username = "u";
  settings.server.database = "d";
  settings.server.password = "a";
  std::string before = ConnectionFingerprint(settings);
  CHECK(ConnectionFingerprint(settings) == before);
  settings.server.password = "b";
  CHECK(ConnectionFingerprint(settings) != before);
  settings.server.password = "a";
  settings.server.port = 3307;
  CHECK(ConnectionFingerprint(settings) != before);
  settings.server.port = 0;
  settings.driver = DatabaseDriver::kPostgresql;
  CHECK(ConnectionFingerprint(settings) != before);
}

TEST_CASE("ServerWaitEnd is the sooner of the deadline and timeout_ms") {
  CursorBackendSettings settings;
  settings.busy_timeout_ms = 100;
  Deadline far = Deadline::FromNow(10000);
  CHECK(ServerWaitEnd(settings, far).remaining_ms() <= 100);
  settings.busy_timeout_ms = kMaxTimeoutMs;
  Deadline near = Deadline::FromNow(50);
  CHECK(ServerWaitEnd(settings, near).when() == near.when());
}

TEST_CASE("WaitForSocket: ready, the library's timer, and the deadline") {
  int pair[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
  short revents = 0;
  // Nothing to read: the library's 10 ms timer ends the wait, as ready.
  CHECK(WaitForSocket(pair[0], POLLIN, Deadline::FromNow(5000), 10, &revents) == SocketWait::kReady);
  CHECK(revents == 0);
  // No timer: the deadline ends it, and not before.
  auto started = std::chrono::steady_clock::now();
  CHECK(WaitForSocket(pair[0], POLLIN, Deadline::FromNow(30), -1, &revents) == SocketWait::kTimedOut);
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(30));
  REQUIRE(write(pair[1], "x", 1) == 1);
  CHECK(WaitForSocket(pair[0], POLLIN, Deadline::FromNow(5000), -1, &revents) == SocketWait::kReady);
  CHECK((revents & POLLIN) != 0);
  close(pair[0]);
  close(pair[1]);
}

TEST_CASE("ResolveAddresses: an address as is, a name to its addresses, an unknown name named") {
  CHECK(ResolveAddresses("127.0.0.1", Deadline::FromNow(1000)).value() ==
        std::vector<std::string>{"127.0.0.1"});
  CHECK(ResolveAddresses("::1", Deadline::FromNow(1000)).value() == std::vector<std::string>{"::1"});
  Result<std::vector<std::string>> local = ResolveAddresses("localhost", Deadline::FromNow(5000));
  REQUIRE(local.ok());
  for (const std::string& address : local.value()) {
    CHECK((address == "127.0.0.1" || address == "::1"));
  }
  Result<std::vector<std::string>> unknown =
      ResolveAddresses("no-such-host.invalid", Deadline::FromNow(2000));
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().rfind("cannot look up no-such-host.invalid: ", 0) == 0);
  // A deadline already past: no waiting for the resolver at all.
  Result<std::vector<std::string>> late = ResolveAddresses("localhost", Deadline::FromNow(0));
  if (!late.ok()) {
    CHECK(late.status().message() ==
          "cannot look up localhost: no answer from the resolver in time");
  }
}

TEST_CASE("a zero duration is falsy, as Python's timedelta(0)") {
  CHECK_FALSE(IsTruthy("00:00:00", ValueKind::kDuration));
  CHECK_FALSE(IsTruthy("-00:00:00.000000", ValueKind::kDuration));
  CHECK(IsTruthy("00:00:01", ValueKind::kDuration));
  CHECK(IsTruthy("838:59:59", ValueKind::kDuration));
}

TEST_CASE("a kept connection's round trip gets a quarter of the time; the cancel reserve is "
          "less than what the server's limit keeps back") {
  Deadline until = Deadline::FromNow(2000);
  int64_t kept_ms = KeptRoundTripEnd(until).remaining_ms();
  CHECK(kept_ms <= 500);
  CHECK(kept_ms >= 400);
  for (int64_t remaining : {30, 100, 300, 2000, 60000}) {
    CHECK(CancelReserveMs(remaining) < remaining - StatementBudgetMs(remaining));
  }
}

// The HealthCheck handler, ported from clearskies: build each configured
// service through the container, in order, then ask the callable. Anything
// that fails, returns false or throws makes the check fail. It knows nothing
// of transports, so it is tested without a socket.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "container.h"
#include "log.h"
#include "request.h"
#include "response.h"

namespace healthcheck {

// A custom check: may ask the container for any configured dependency, and
// returns Ok when the application is healthy, else why not. Throwing fails
// the check too (clearskies fails on any exception), logged as "threw:".
using HealthCallable = std::function<Status(Container& container)>;

struct HealthCheck {
  std::vector<std::string> services;  // Dependency names, built in order.
  HealthCallable callable;            // Empty: no custom check.
  std::string callable_name = "callable";
  int64_t timeout_ms = 2000;  // Bounds the whole check, every step included.
  FailureStatus failure_status = FailureStatus::kInternalServerError;
};

// What one step of the check did, for the log.
struct CheckRecord {
  std::string name;
  bool passed = false;
  double duration_ms = 0;
  std::string reason;  // Why it failed; empty when it passed.
};

struct CheckOutcome {
  bool healthy = true;
  std::vector<CheckRecord> records;
};

// Runs the check; stops at the first failing step, as clearskies does.
CheckOutcome RunHealthCheck(const HealthCheck& check, Container& container);

// The whole handler: runs the check with a fresh container and a deadline,
// ends the request in `worker` (what it keeps must be fit to keep), logs
// each failed step, and answers with the envelope.
Response HandleHealth(const Request& request, const HealthCheck& check,
                      const DependencyRegistry& registry, WorkerContext& worker, Log& log);

// "cursor_backend failed after 1.2 ms: <reason>"
std::string DescribeFailure(const CheckRecord& record);

}  // namespace healthcheck

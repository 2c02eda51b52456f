// The HealthCheck handler, ported from clearskies: build each configured
// service through the container, in order, then ask the callable. Anything
// that fails, returns false or throws makes the check fail. It knows nothing
// of transports, so it is tested without a socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "container.h"
#include "log.h"
#include "request.h"
#include "response.h"
#include "shared_result.h"

namespace healthcheck {

// A custom check: may ask the container for any configured dependency, and
// returns Ok when the application is healthy, else why not. Throwing fails
// the check too (clearskies fails on any exception), logged as "threw:".
using HealthCallable = std::function<Status(Container& container)>;

struct HealthCheck {
  std::string probe;                  // The probe's name; empty for the top-level check.
  std::vector<std::string> services;  // Dependency names, built in order.
  HealthCallable callable;            // Empty: no custom check.
  std::string callable_name = "callable";
  int64_t timeout_ms = 2000;  // Bounds the whole check, every step included.
  int failure_status = kInternalServerError;  // 500 or 503.
  bool drains = false;  // Answers the drain status, unchecked, while the drain file exists.
  // Set: results are shared across the machine (shared_result.h), in the
  // file `shared_file`, under `fingerprint` (what the check checks).
  std::optional<CacheSettings> cache;
  std::string shared_file;
  uint64_t fingerprint = 0;
  // This process's kept look at shared_file, for the fresh results.
  std::shared_ptr<SharedResultView> shared_view;
  size_t metrics_slot = 0;  // Its place among the App's counted checks.
  // For each step, in the order run, its place among the slot's steps.
  std::vector<size_t> step_slots;
};

// What one step of the check did, for the log.
struct CheckRecord {
  std::string name;
  bool passed = false;
  double duration_ms = 0;
  std::chrono::system_clock::time_point finished_at;  // For the report's "time".
  std::string reason;  // Why it failed; empty when it passed.
};

struct CheckOutcome {
  bool healthy = true;
  std::vector<CheckRecord> records;
};

// Runs the check; stops at the first failing step, as clearskies does.
CheckOutcome RunHealthCheck(const HealthCheck& check, Container& container);

// Runs the check with a fresh container within `deadline`, ends the request
// in `worker` (what it keeps must be fit to keep), and logs each failed step.
CheckOutcome CheckAndLog(const HealthCheck& check, const DependencyRegistry& registry,
                         WorkerContext& worker, Log& log, const Deadline& deadline);

// The same within the check's own timeout_ms from now.
CheckOutcome CheckAndLog(const HealthCheck& check, const DependencyRegistry& registry,
                         WorkerContext& worker, Log& log);

// The whole handler for a caller that gets the envelope: CheckAndLog, then
// the answer.
Response HandleHealth(const Request& request, const HealthCheck& check,
                      const DependencyRegistry& registry, WorkerContext& worker, Log& log);

// "cursor_backend failed after 1.2 ms: <reason>"
std::string DescribeFailure(const CheckRecord& record);

// What a log line about `check` starts with: "healthcheck: " for the
// top-level check, "healthcheck: probe ready: " for a probe.
std::string LogPrefix(const HealthCheck& check);

// The body mode a request's method asks for: HEAD drops the body.
BodyMode BodyModeFor(const Request& request);

}  // namespace healthcheck

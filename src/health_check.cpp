// RunHealthCheck and HandleHealth.
#include "health_check.h"

#include <chrono>
#include <cstdio>
#include <exception>

namespace healthcheck {
namespace {

using Clock = std::chrono::steady_clock;

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Runs one step, turning false, errors and exceptions into a failed record.
// This is the one place exceptions are caught: clearskies fails the check on
// any exception, and so do we.
template <typename Step>
CheckRecord RunStep(const std::string& name, const Deadline& deadline, Step step) {
  CheckRecord record;
  record.name = name;
  Clock::time_point start = Clock::now();
  try {
    Status status = step();
    record.passed = status.ok();
    record.reason = status.message();
  } catch (const std::exception& error) {
    record.reason = std::string("threw: ") + error.what();
  } catch (...) {
    record.reason = "threw an exception";
  }
  record.duration_ms = MillisecondsSince(start);
  record.finished_at = std::chrono::system_clock::now();
  // An answer that came too late is no answer: the caller has given up.
  if (record.passed && deadline.expired()) {
    record.passed = false;
    record.reason = "finished after the deadline";
  }
  return record;
}

}  // namespace

CheckOutcome RunHealthCheck(const HealthCheck& check, Container& container) {
  CheckOutcome outcome;
  outcome.records.reserve(check.services.size() + 1);
  auto add = [&outcome](CheckRecord record) {
    outcome.healthy = outcome.healthy && record.passed;
    outcome.records.push_back(std::move(record));
    return outcome.healthy;
  };
  for (const std::string& service : check.services) {
    bool passed = add(RunStep(service, container.deadline(), [&]() -> Status {
      Result<std::shared_ptr<Dependency>> built = container.build(service);
      return built.ok() ? Status::Ok() : built.status();
    }));
    if (!passed) return outcome;
  }
  if (check.callable) {
    add(RunStep(check.callable_name, container.deadline(), [&]() -> Status {
      return check.callable(container);
    }));
  }
  return outcome;
}

CheckOutcome CheckAndLog(const HealthCheck& check, const DependencyRegistry& registry,
                         WorkerContext& worker, Log& log) {
  return CheckAndLog(check, registry, worker, log, Deadline::FromNow(check.timeout_ms));
}

CheckOutcome CheckAndLog(const HealthCheck& check, const DependencyRegistry& registry,
                         WorkerContext& worker, Log& log, const Deadline& deadline) {
  CheckOutcome outcome;
  {
    // The request's dependencies are gone before we answer, and nothing
    // the worker keeps holds a lock or a transaction.
    Container container(registry, worker, deadline);
    outcome = RunHealthCheck(check, container);
  }
  worker.EndRequest();
  for (const CheckRecord& record : outcome.records) {
    if (!record.passed) log.error(LogPrefix(check) + "unhealthy: " + DescribeFailure(record));
  }
  return outcome;
}

Response HandleHealth(const Request& request, const HealthCheck& check,
                      const DependencyRegistry& registry, WorkerContext& worker, Log& log) {
  CheckOutcome outcome = CheckAndLog(check, registry, worker, log);
  return MakeResponse(outcome.healthy ? Health::kHealthy : Health::kUnhealthy, BodyModeFor(request),
                      check.failure_status);
}

std::string LogPrefix(const HealthCheck& check) {
  return check.probe.empty() ? "healthcheck: " : "healthcheck: probe " + check.probe + ": ";
}

BodyMode BodyModeFor(const Request& request) {
  // HEAD loses its body here, once, whatever the answer.
  return request.is_head() ? BodyMode::kHeadersOnly : BodyMode::kWithBody;
}

std::string DescribeFailure(const CheckRecord& record) {
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.1f", record.duration_ms);
  return record.name + " failed after " + duration + " ms: " + record.reason;
}

}  // namespace healthcheck

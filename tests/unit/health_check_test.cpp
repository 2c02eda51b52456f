// The handler: clearskies' HealthCheck truth table, logging and HEAD.
#include "../../src/health_check.h"

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

using namespace healthcheck;

namespace {

struct Fake : Dependency {};

// A registry with "good" (always builds), "bad" (always fails) and "slow"
// (builds after 50 ms), counting every build in `order`.
DependencyRegistry FakeRegistry(std::vector<std::string>* order) {
  DependencyRegistry registry;
  registry.add("good", [order](const Deadline&) -> Result<std::shared_ptr<Dependency>> {
    order->push_back("good");
    return std::shared_ptr<Dependency>(std::make_shared<Fake>());
  });
  registry.add("bad", [order](const Deadline&) -> Result<std::shared_ptr<Dependency>> {
    order->push_back("bad");
    return Status::Error("connection refused");
  });
  registry.add("slow", [order](const Deadline&) -> Result<std::shared_ptr<Dependency>> {
    order->push_back("slow");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return std::shared_ptr<Dependency>(std::make_shared<Fake>());
  });
  return registry;
}

enum class CallableKind { kNone, kTrue, kFalse, kThrowsStd, kThrowsOther };

HealthCallable MakeCallable(CallableKind kind, int* calls) {
  switch (kind) {
    case CallableKind::kNone:
      return nullptr;
    case CallableKind::kTrue:
      return [calls](Container&) { ++*calls; return true; };
    case CallableKind::kFalse:
      return [calls](Container&) { ++*calls; return false; };
    case CallableKind::kThrowsStd:
      return [calls](Container&) -> bool { ++*calls; throw std::runtime_error("boom"); };
    case CallableKind::kThrowsOther:
      return [calls](Container&) -> bool { ++*calls; throw 42; };
  }
  return nullptr;
}

struct Row {
  std::vector<std::string> services;
  CallableKind callable;
  bool healthy;
};

}  // namespace

TEST_CASE("truth table: services x callable x exceptions") {
  const std::vector<Row> rows = {
      {{}, CallableKind::kNone, true},
      {{"good"}, CallableKind::kNone, true},
      {{"bad"}, CallableKind::kNone, false},
      {{"good", "bad"}, CallableKind::kNone, false},
      {{}, CallableKind::kTrue, true},
      {{}, CallableKind::kFalse, false},
      {{}, CallableKind::kThrowsStd, false},
      {{}, CallableKind::kThrowsOther, false},
      {{"good"}, CallableKind::kTrue, true},
      {{"good"}, CallableKind::kFalse, false},
      {{"bad"}, CallableKind::kTrue, false},
      {{"good"}, CallableKind::kThrowsStd, false},
      {{"unknown"}, CallableKind::kNone, false},
  };
  for (const Row& row : rows) {
    std::vector<std::string> order;
    DependencyRegistry registry = FakeRegistry(&order);
    int calls = 0;
    HealthCheck check;
    check.services = row.services;
    check.callable = MakeCallable(row.callable, &calls);
    Container container(registry, Deadline::FromNow(1000));
    CheckOutcome outcome = RunHealthCheck(check, container);
    CAPTURE(row.services.size());
    CAPTURE(static_cast<int>(row.callable));
    CHECK(outcome.healthy == row.healthy);
  }
}

TEST_CASE("services are built in order and the first failure stops the check") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  int calls = 0;
  HealthCheck check;
  check.services = {"good", "bad", "slow"};
  check.callable = MakeCallable(CallableKind::kTrue, &calls);
  Container container(registry, Deadline::FromNow(1000));
  CheckOutcome outcome = RunHealthCheck(check, container);
  CHECK_FALSE(outcome.healthy);
  CHECK(order == std::vector<std::string>{"good", "bad"});
  CHECK(calls == 0);  // The callable never runs after a failed service.
  REQUIRE(outcome.records.size() == 2);
  CHECK(outcome.records[0].name == "good");
  CHECK(outcome.records[0].passed);
  CHECK(outcome.records[1].name == "bad");
  CHECK_FALSE(outcome.records[1].passed);
  CHECK(outcome.records[1].reason == "connection refused");
}

TEST_CASE("the callable runs once, after every service passed") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  int calls = 0;
  HealthCheck check;
  check.services = {"good", "slow"};
  check.callable = [&](Container& container) {
    ++calls;
    CHECK(order.size() == 2);
    return container.build("good").ok();  // Cached: no third build.
  };
  Container container(registry, Deadline::FromNow(1000));
  CHECK(RunHealthCheck(check, container).healthy);
  CHECK(calls == 1);
  CHECK(order == std::vector<std::string>{"good", "slow"});
}

TEST_CASE("exceptions are failures with their text as the reason") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  int calls = 0;
  HealthCheck check;
  check.callable = MakeCallable(CallableKind::kThrowsStd, &calls);
  Container container(registry, Deadline::FromNow(1000));
  CheckOutcome outcome = RunHealthCheck(check, container);
  REQUIRE(outcome.records.size() == 1);
  CHECK(outcome.records[0].name == "callable");
  CHECK(outcome.records[0].reason == "threw: boom");

  check.callable = MakeCallable(CallableKind::kThrowsOther, &calls);
  Container again(registry, Deadline::FromNow(1000));
  CHECK(RunHealthCheck(check, again).records[0].reason == "threw an exception");
  check.callable = MakeCallable(CallableKind::kFalse, &calls);
  Container third(registry, Deadline::FromNow(1000));
  CHECK(RunHealthCheck(check, third).records[0].reason == "returned false");
}

TEST_CASE("a step that finishes after the deadline fails") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  HealthCheck check;
  check.services = {"slow"};
  Container container(registry, Deadline::FromNow(10));
  CheckOutcome outcome = RunHealthCheck(check, container);
  CHECK_FALSE(outcome.healthy);
  REQUIRE(outcome.records.size() == 1);
  CHECK(outcome.records[0].reason == "finished after the deadline");
}

TEST_CASE("HandleHealth logs one line per failed step and nothing on success") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  HealthCheck check;
  check.services = {"good"};
  MemoryLog quiet;
  Response healthy = HandleHealth(Request{}, check, registry, quiet);
  CHECK(healthy.status_code == 200);
  CHECK(quiet.lines.empty());

  check.services = {"good", "bad"};
  MemoryLog log;
  Response unhealthy = HandleHealth(Request{}, check, registry, log);
  CHECK(unhealthy.status_code == 500);
  REQUIRE(log.lines.size() == 1);
  CHECK(log.lines[0].rfind("healthcheck: unhealthy: bad failed after ", 0) == 0);
  CHECK(log.lines[0].find(" ms: connection refused") != std::string::npos);
  // The reason never reaches the public body.
  CHECK(std::string(unhealthy.bytes).find("connection refused") == std::string::npos);
}

TEST_CASE("HEAD gets no body, healthy or not") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  HealthCheck check;
  Request head;
  head.method = "HEAD";
  MemoryLog log;
  CHECK(HandleHealth(head, check, registry, log).bytes ==
        MakeResponse(Health::kHealthy, BodyMode::kHeadersOnly).bytes);
  check.services = {"bad"};
  CHECK(HandleHealth(head, check, registry, log).bytes ==
        MakeResponse(Health::kUnhealthy, BodyMode::kHeadersOnly).bytes);
  Request post;
  post.method = "POST";
  CHECK(HandleHealth(post, check, registry, log).bytes ==
        MakeResponse(Health::kUnhealthy, BodyMode::kWithBody).bytes);
}

TEST_CASE("DescribeFailure names the step, the time and the reason") {
  CheckRecord record;
  record.name = "cursor_backend";
  record.duration_ms = 1.25;
  record.reason = "locked";
  CHECK(DescribeFailure(record) == "cursor_backend failed after 1.2 ms: locked");
}

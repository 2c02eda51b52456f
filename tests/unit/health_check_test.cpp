// The handler: clearskies' HealthCheck truth table, logging and HEAD.
#include "../../src/health_check.h"

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "test_support.h"

using namespace healthcheck;

namespace {

struct Fake : Dependency {};

// A registry with "good" (always builds), "bad" (always fails) and "slow"
// (builds after 50 ms), counting every build in `order`.
DependencyRegistry FakeRegistry(std::vector<std::string>* order) {
  DependencyRegistry registry;
  registry.add("good",
               [order](const Deadline&, WorkerContext&) -> Result<std::shared_ptr<Dependency>> {
                 order->push_back("good");
                 return std::shared_ptr<Dependency>(std::make_shared<Fake>());
               });
  registry.add("bad",
               [order](const Deadline&, WorkerContext&) -> Result<std::shared_ptr<Dependency>> {
                 order->push_back("bad");
                 return Status::Error("connection refused");
               });
  registry.add("slow",
               [order](const Deadline&, WorkerContext&) -> Result<std::shared_ptr<Dependency>> {
                 order->push_back("slow");
                 std::this_thread::sleep_for(std::chrono::milliseconds(50));
                 return std::shared_ptr<Dependency>(std::make_shared<Fake>());
               });
  return registry;
}

// A connection a builder keeps in the worker's context; fit to keep only
// once no dependency uses it any more, and while `fit` says so.
struct FakeConnection : KeptConnection {
  bool in_use = false;
  bool fit = true;
  int asked = 0;
  bool FitToKeep() override {
    ++asked;
    return fit && !in_use;
  }
};

// A dependency using the worker's FakeConnection while it lives.
struct UsesConnection : Dependency {
  explicit UsesConnection(FakeConnection& used) : connection(used) { connection.in_use = true; }
  ~UsesConnection() override { connection.in_use = false; }
  FakeConnection& connection;
};

// Builds "pooled" on the connection the worker keeps under that name,
// putting one there first if there is none.
void AddPooled(DependencyRegistry& registry) {
  registry.add("pooled", [](const Deadline&, WorkerContext& worker) {
    std::unique_ptr<KeptConnection>& kept = worker.kept("pooled");
    if (!kept) kept = std::make_unique<FakeConnection>();
    auto* connection = static_cast<FakeConnection*>(kept.get());
    return Result<std::shared_ptr<Dependency>>(std::make_shared<UsesConnection>(*connection));
  });
}

FakeConnection* Pooled(WorkerContext& worker) {
  return static_cast<FakeConnection*>(worker.kept("pooled").get());
}

enum class CallableKind { kNone, kTrue, kFalse, kThrowsStd, kThrowsOther };

// Why a kFalse callable says the application is unhealthy.
const std::string kCallableReason = "3 jobs failed";

HealthCallable MakeCallable(CallableKind kind, int* calls) {
  switch (kind) {
    case CallableKind::kNone:
      return nullptr;
    case CallableKind::kTrue:
      return [calls](Container&) {
        ++*calls;
        return Status::Ok();
      };
    case CallableKind::kFalse:
      return [calls](Container&) {
        ++*calls;
        return Status::Error(kCallableReason);
      };
    case CallableKind::kThrowsStd:
      return [calls](Container&) -> Status {
        ++*calls;
        throw std::runtime_error("boom");
      };
    case CallableKind::kThrowsOther:
      return [calls](Container&) -> Status {
        ++*calls;
        throw 42;
      };
  }
  return nullptr;
}

struct Row {
  std::vector<std::string> services;
  CallableKind callable;
  bool healthy;
};

}  // namespace

TEST_CASE("no services and no callable is healthy, with nothing recorded") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  WorkerContext worker;
  HealthCheck check;
  Container container(registry, worker, Deadline::FromNow(1000));
  CheckOutcome outcome = RunHealthCheck(check, container);
  CHECK(outcome.healthy);
  CHECK(outcome.records.empty());
  CHECK(order.empty());
}

TEST_CASE("truth table: every service list with every kind of callable") {
  struct ServiceCase {
    std::vector<std::string> services;
    bool pass;
  };
  const std::vector<ServiceCase> service_cases = {
      {{}, true},          {{"good"}, true},         {{"good", "good"}, true},
      {{"bad"}, false},    {{"good", "bad"}, false}, {{"bad", "good"}, false},
      {{"unknown"}, false}};
  struct CallableCase {
    CallableKind kind;
    bool pass;
  };
  const std::vector<CallableCase> callable_cases = {{CallableKind::kNone, true},
                                                    {CallableKind::kTrue, true},
                                                    {CallableKind::kFalse, false},
                                                    {CallableKind::kThrowsStd, false},
                                                    {CallableKind::kThrowsOther, false}};
  for (const ServiceCase& services : service_cases) {
    for (const CallableCase& callable : callable_cases) {
      std::vector<std::string> order;
      DependencyRegistry registry = FakeRegistry(&order);
      WorkerContext worker;
      int calls = 0;
      HealthCheck check;
      check.services = services.services;
      check.callable = MakeCallable(callable.kind, &calls);
      Container container(registry, worker, Deadline::FromNow(1000));
      CheckOutcome outcome = RunHealthCheck(check, container);
      std::string row;
      for (const std::string& name : services.services) row += name + " ";
      row += "callable " + std::to_string(static_cast<int>(callable.kind));
      CAPTURE(row);
      // With both, both must pass.
      CHECK(outcome.healthy == (services.pass && callable.pass));
      // The callable runs only after every service passed, and then once.
      bool runs = services.pass && callable.kind != CallableKind::kNone;
      CHECK(calls == (runs ? 1 : 0));
      // Exactly one failed record when unhealthy, and it is the last one.
      int failed = 0;
      for (const CheckRecord& record : outcome.records) failed += record.passed ? 0 : 1;
      CHECK(failed == (outcome.healthy ? 0 : 1));
      if (!outcome.healthy) CHECK_FALSE(outcome.records.back().passed);
    }
  }
}

TEST_CASE("truth table: services x callable x exceptions") {
  const std::vector<Row> rows = {
      {{}, CallableKind::kNone, true},           {{"good"}, CallableKind::kNone, true},
      {{"bad"}, CallableKind::kNone, false},     {{"good", "bad"}, CallableKind::kNone, false},
      {{}, CallableKind::kTrue, true},           {{}, CallableKind::kFalse, false},
      {{}, CallableKind::kThrowsStd, false},     {{}, CallableKind::kThrowsOther, false},
      {{"good"}, CallableKind::kTrue, true},     {{"good"}, CallableKind::kFalse, false},
      {{"bad"}, CallableKind::kTrue, false},     {{"good"}, CallableKind::kThrowsStd, false},
      {{"unknown"}, CallableKind::kNone, false},
  };
  for (const Row& row : rows) {
    std::vector<std::string> order;
    DependencyRegistry registry = FakeRegistry(&order);
    WorkerContext worker;
    int calls = 0;
    HealthCheck check;
    check.services = row.services;
    check.callable = MakeCallable(row.callable, &calls);
    Container container(registry, worker, Deadline::FromNow(1000));
    CheckOutcome outcome = RunHealthCheck(check, container);
    CAPTURE(row.services.size());
    CAPTURE(static_cast<int>(row.callable));
    CHECK(outcome.healthy == row.healthy);
  }
}

TEST_CASE("services are built in order and the first failure stops the check") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  WorkerContext worker;
  int calls = 0;
  HealthCheck check;
  check.services = {"good", "bad", "slow"};
  check.callable = MakeCallable(CallableKind::kTrue, &calls);
  Container container(registry, worker, Deadline::FromNow(1000));
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
  WorkerContext worker;
  int calls = 0;
  HealthCheck check;
  check.services = {"good", "slow"};
  check.callable = [&](Container& container) {
    ++calls;
    CHECK(order.size() == 2);
    return container.build("good").status();  // Cached: no third build.
  };
  Container container(registry, worker, Deadline::FromNow(1000));
  CHECK(RunHealthCheck(check, container).healthy);
  CHECK(calls == 1);
  CHECK(order == std::vector<std::string>{"good", "slow"});
}

TEST_CASE("exceptions are failures with their text as the reason") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  WorkerContext worker;
  int calls = 0;
  HealthCheck check;
  check.callable = MakeCallable(CallableKind::kThrowsStd, &calls);
  Container container(registry, worker, Deadline::FromNow(1000));
  CheckOutcome outcome = RunHealthCheck(check, container);
  REQUIRE(outcome.records.size() == 1);
  CHECK(outcome.records[0].name == "callable");
  CHECK(outcome.records[0].reason == "threw: boom");

  check.callable = MakeCallable(CallableKind::kThrowsOther, &calls);
  Container again(registry, worker, Deadline::FromNow(1000));
  CHECK(RunHealthCheck(check, again).records[0].reason == "threw an exception");
}

TEST_CASE("a callable's error is the step's reason, word for word") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  WorkerContext worker;
  int calls = 0;
  HealthCheck check;
  check.callable = MakeCallable(CallableKind::kFalse, &calls);
  Container container(registry, worker, Deadline::FromNow(1000));
  CheckOutcome outcome = RunHealthCheck(check, container);
  CHECK_FALSE(outcome.healthy);
  REQUIRE(outcome.records.size() == 1);
  CHECK(outcome.records[0].name == "callable");
  CHECK_FALSE(outcome.records[0].passed);
  CHECK(outcome.records[0].reason == "3 jobs failed");
}

TEST_CASE("a step that finishes after the deadline fails") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  WorkerContext worker;
  HealthCheck check;
  check.services = {"slow"};
  Container container(registry, worker, Deadline::FromNow(10));
  CheckOutcome outcome = RunHealthCheck(check, container);
  CHECK_FALSE(outcome.healthy);
  REQUIRE(outcome.records.size() == 1);
  CHECK(outcome.records[0].reason == "finished after the deadline");
}

TEST_CASE("HandleHealth logs one line per failed step and nothing on success") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  WorkerContext worker;
  HealthCheck check;
  check.services = {"good"};
  MemoryLog quiet;
  Response healthy = HandleHealth(Request{}, check, registry, worker, quiet);
  CHECK(healthy.status_code == 200);
  CHECK(quiet.lines.empty());

  check.services = {"good", "bad"};
  MemoryLog log;
  Response unhealthy = HandleHealth(Request{}, check, registry, worker, log);
  CHECK(unhealthy.status_code == 500);
  REQUIRE(log.lines.size() == 1);
  CHECK(log.lines[0].rfind("healthcheck: unhealthy: bad failed after ", 0) == 0);
  CHECK(log.lines[0].find(" ms: connection refused") != std::string::npos);
  // The reason never reaches the public body.
  CHECK(std::string(unhealthy.bytes).find("connection refused") == std::string::npos);
}

TEST_CASE("HandleHealth's log line names the step, says failed, and gives the reason") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  WorkerContext worker;
  int calls = 0;
  HealthCheck check;
  check.services = {"good"};
  check.callable_name = "callable (sql)";
  struct Expectation {
    CallableKind kind;
    std::string line;
  };
  const std::vector<Expectation> expectations = {
      {CallableKind::kFalse,
       "healthcheck: unhealthy: callable (sql) failed after N ms: 3 jobs failed"},
      {CallableKind::kThrowsStd,
       "healthcheck: unhealthy: callable (sql) failed after N ms: threw: boom"},
      {CallableKind::kThrowsOther,
       "healthcheck: unhealthy: callable (sql) failed after N ms: threw an exception"},
  };
  for (const Expectation& expected : expectations) {
    check.callable = MakeCallable(expected.kind, &calls);
    MemoryLog log;
    CHECK(HandleHealth(Request{}, check, registry, worker, log).status_code == 500);
    REQUIRE(log.lines.size() == 1);
    CHECK(testing::WithoutDuration(log.lines[0]) == expected.line);
  }
  check.services = {"good", "bad"};
  MemoryLog log;
  CHECK(HandleHealth(Request{}, check, registry, worker, log).status_code == 500);
  REQUIRE(log.lines.size() == 1);
  CHECK(testing::WithoutDuration(log.lines[0]) ==
        "healthcheck: unhealthy: bad failed after N ms: connection refused");
  check.services = {"unknown"};
  MemoryLog unknown_log;
  HandleHealth(Request{}, check, registry, worker, unknown_log);
  REQUIRE(unknown_log.lines.size() == 1);
  CHECK(testing::WithoutDuration(unknown_log.lines[0]) ==
        "healthcheck: unhealthy: unknown failed after N ms: unknown dependency \"unknown\"");
}

TEST_CASE("HandleHealth bounds the check with the configured timeout") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  WorkerContext worker;
  HealthCheck check;
  check.services = {"slow", "good"};
  check.timeout_ms = 10;  // "slow" takes 50 ms.
  MemoryLog log;
  CHECK(HandleHealth(Request{}, check, registry, worker, log).status_code == 500);
  REQUIRE(log.lines.size() == 1);
  CHECK(testing::WithoutDuration(log.lines[0]) ==
        "healthcheck: unhealthy: slow failed after N ms: finished after the deadline");
  CHECK(order == std::vector<std::string>{"slow"});
  check.timeout_ms = 2000;
  MemoryLog quiet;
  CHECK(HandleHealth(Request{}, check, registry, worker, quiet).status_code == 200);
  CHECK(quiet.lines.empty());
}

TEST_CASE("a callable finishing after the deadline fails even though it returned true") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  WorkerContext worker;
  HealthCheck check;
  check.callable = [](Container&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    return Status::Ok();
  };
  Container container(registry, worker, Deadline::FromNow(5));
  CheckOutcome outcome = RunHealthCheck(check, container);
  CHECK_FALSE(outcome.healthy);
  REQUIRE(outcome.records.size() == 1);
  CHECK(outcome.records[0].name == "callable");
  CHECK(outcome.records[0].reason == "finished after the deadline");
}

TEST_CASE("HEAD gets no body, healthy or not") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  WorkerContext worker;
  HealthCheck check;
  Request head;
  head.method = "HEAD";
  MemoryLog log;
  CHECK(HandleHealth(head, check, registry, worker, log).bytes ==
        MakeResponse(Health::kHealthy, BodyMode::kHeadersOnly).bytes);
  check.services = {"bad"};
  CHECK(HandleHealth(head, check, registry, worker, log).bytes ==
        MakeResponse(Health::kUnhealthy, BodyMode::kHeadersOnly).bytes);
  Request post;
  post.method = "POST";
  CHECK(HandleHealth(post, check, registry, worker, log).bytes ==
        MakeResponse(Health::kUnhealthy, BodyMode::kWithBody).bytes);
}

TEST_CASE("HandleHealth ends the request in the worker once the request's dependencies are gone") {
  std::vector<std::string> order;
  DependencyRegistry registry = FakeRegistry(&order);
  AddPooled(registry);
  WorkerContext worker;
  HealthCheck check;
  check.services = {"pooled"};
  MemoryLog log;
  CHECK(HandleHealth(Request{}, check, registry, worker, log).status_code == 200);
  // Asked once, after the dependency using it was gone: kept.
  REQUIRE(Pooled(worker) != nullptr);
  CHECK(Pooled(worker)->asked == 1);
  CHECK(HandleHealth(Request{}, check, registry, worker, log).status_code == 200);
  REQUIRE(Pooled(worker) != nullptr);
  CHECK(Pooled(worker)->asked == 2);  // The same one served again: a new one was asked once.

  // Unfit at the end of a failing request: dropped all the same.
  Pooled(worker)->fit = false;
  check.services = {"pooled", "bad"};
  CHECK(HandleHealth(Request{}, check, registry, worker, log).status_code == 500);
  CHECK(Pooled(worker) == nullptr);
  CHECK(log.lines.size() == 1);
}

TEST_CASE("DescribeFailure names the step, the time and the reason") {
  CheckRecord record;
  record.name = "cursor_backend";
  record.duration_ms = 1.25;
  record.reason = "locked";
  CHECK(DescribeFailure(record) == "cursor_backend failed after 1.2 ms: locked");
}

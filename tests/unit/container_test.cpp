// The per-request dependency container.
#include "../../src/container.h"

#include <doctest/doctest.h>

#include <memory>

using namespace healthcheck;

namespace {
struct Widget : Dependency {};
struct Gadget : Dependency {};

DependencyRegistry CountingRegistry(int* builds) {
  DependencyRegistry registry;
  registry.add("widget",
               [builds](const Deadline&, WorkerContext&) -> Result<std::shared_ptr<Dependency>> {
                 ++*builds;
                 return std::shared_ptr<Dependency>(std::make_shared<Widget>());
               });
  registry.add("broken",
               [](const Deadline&, WorkerContext&) -> Result<std::shared_ptr<Dependency>> {
                 return Status::Error("cannot reach it");
               });
  return registry;
}
}  // namespace

TEST_CASE("an unknown dependency name is an error naming it") {
  WorkerContext worker;
  int builds = 0;
  DependencyRegistry registry = CountingRegistry(&builds);
  Container container(registry, worker, Deadline::FromNow(1000));
  auto built = container.build("redis");
  REQUIRE_FALSE(built.ok());
  CHECK(built.status().message() == "unknown dependency \"redis\"");
}

TEST_CASE("a dependency is built once per container and fresh for the next") {
  WorkerContext worker;
  int builds = 0;
  DependencyRegistry registry = CountingRegistry(&builds);
  {
    Container container(registry, worker, Deadline::FromNow(1000));
    auto first = container.build("widget");
    auto second = container.build("widget");
    REQUIRE(first.ok());
    REQUIRE(second.ok());
    CHECK(first.value().get() == second.value().get());
    CHECK(builds == 1);
  }
  Container next(registry, worker, Deadline::FromNow(1000));
  REQUIRE(next.build("widget").ok());
  CHECK(builds == 2);
}

TEST_CASE("a builder's error reaches the caller") {
  WorkerContext worker;
  int builds = 0;
  DependencyRegistry registry = CountingRegistry(&builds);
  Container container(registry, worker, Deadline::FromNow(1000));
  auto built = container.build("broken");
  REQUIRE_FALSE(built.ok());
  CHECK(built.status().message() == "cannot reach it");
}

TEST_CASE("build_as refuses a dependency of another type") {
  WorkerContext worker;
  int builds = 0;
  DependencyRegistry registry = CountingRegistry(&builds);
  Container container(registry, worker, Deadline::FromNow(1000));
  CHECK(container.build_as<Widget>("widget").ok());
  auto wrong = container.build_as<Gadget>("widget");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().message() == "dependency \"widget\" is not of the expected type");
}

TEST_CASE("nothing is built once the deadline has passed") {
  WorkerContext worker;
  int builds = 0;
  DependencyRegistry registry = CountingRegistry(&builds);
  Container container(registry, worker, Deadline::FromNow(0));
  auto built = container.build("widget");
  REQUIRE_FALSE(built.ok());
  CHECK(built.status().message() == "deadline passed before building \"widget\"");
  CHECK(builds == 0);
}

TEST_CASE("the registry lists its names") {
  WorkerContext worker;
  int builds = 0;
  DependencyRegistry registry = CountingRegistry(&builds);
  CHECK(registry.names() == std::vector<std::string>{"broken", "widget"});
  CHECK(registry.find("widget") != nullptr);
  CHECK(registry.find("nope") == nullptr);
}

TEST_CASE("a builder that returns nothing is an error, not a null dependency") {
  WorkerContext worker;
  DependencyRegistry registry;
  registry.add("hollow",
               [](const Deadline&, WorkerContext&) -> Result<std::shared_ptr<Dependency>> {
                 return std::shared_ptr<Dependency>();
               });
  Container container(registry, worker, Deadline::FromNow(1000));
  auto built = container.build("hollow");
  REQUIRE_FALSE(built.ok());
  CHECK(built.status().message() == "builder for \"hollow\" returned nothing");
  auto typed = container.build_as<Widget>("hollow");
  REQUIRE_FALSE(typed.ok());
  CHECK(typed.status().message() == "builder for \"hollow\" returned nothing");
}

TEST_CASE("build_as passes on a builder's error and an unknown name unchanged") {
  WorkerContext worker;
  int builds = 0;
  DependencyRegistry registry = CountingRegistry(&builds);
  Container container(registry, worker, Deadline::FromNow(1000));
  auto broken = container.build_as<Widget>("broken");
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.status().message() == "cannot reach it");
  auto unknown = container.build_as<Widget>("redis");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message() == "unknown dependency \"redis\"");
}

TEST_CASE("a builder is given the container's deadline and worker context") {
  WorkerContext worker;
  DependencyRegistry registry;
  Deadline::Clock::time_point seen{};
  WorkerContext* seen_worker = nullptr;
  registry.add("widget",
               [&seen, &seen_worker](const Deadline& deadline,
                                     WorkerContext& given) -> Result<std::shared_ptr<Dependency>> {
                 seen = deadline.when();
                 seen_worker = &given;
                 return std::shared_ptr<Dependency>(std::make_shared<Widget>());
               });
  Deadline deadline = Deadline::FromNow(1234);
  Container container(registry, worker, deadline);
  REQUIRE(container.build("widget").ok());
  CHECK(seen == deadline.when());
  CHECK(seen_worker == &worker);
}

TEST_CASE("adding a builder under a taken name replaces it") {
  WorkerContext worker;
  DependencyRegistry registry;
  registry.add("thing", [](const Deadline&, WorkerContext&) -> Result<std::shared_ptr<Dependency>> {
    return std::shared_ptr<Dependency>(std::make_shared<Widget>());
  });
  registry.add("thing", [](const Deadline&, WorkerContext&) -> Result<std::shared_ptr<Dependency>> {
    return std::shared_ptr<Dependency>(std::make_shared<Gadget>());
  });
  Container container(registry, worker, Deadline::FromNow(1000));
  CHECK(container.build_as<Gadget>("thing").ok());
  CHECK(registry.names() == std::vector<std::string>{"thing"});
}

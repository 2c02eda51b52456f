// The dependency container: named builders, as in clearskies' dependency
// injection. A DependencyRegistry is set up once from the configuration and
// shared by all threads; a Container is made for one request, builds what
// it is asked for through the registry and keeps it until the request ends,
// so that every check sees fresh dependencies and nothing outlives a request
// but what a builder keeps in the worker's context (worker_context.h).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deadline.h"
#include "status.h"
#include "worker_context.h"

namespace healthcheck {

// Anything the container can build. Concrete dependencies (the SQLite
// cursor, the memory backend) derive from it.
class Dependency {
 public:
  virtual ~Dependency() = default;
};

// Builds a dependency for one request, by `deadline`; `worker` holds what
// the builder kept from the worker's earlier requests.
using DependencyBuilder = std::function<Result<std::shared_ptr<Dependency>>(
    const Deadline& deadline, WorkerContext& worker)>;

class DependencyRegistry {
 public:
  // Adds or replaces the builder for `name`.
  void add(const std::string& name, DependencyBuilder builder);
  const DependencyBuilder* find(const std::string& name) const;
  // The registry's entry for `name` (its own copy of the name, and the
  // builder), or null.
  const std::pair<const std::string, DependencyBuilder>* find_entry(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, DependencyBuilder> builders_;
};

class Container {
 public:
  Container(const DependencyRegistry& registry, WorkerContext& worker, Deadline deadline)
      : registry_(registry), worker_(worker), deadline_(deadline) {}

  // Builds `name` once per container; an unknown name is an error, like
  // clearskies' container raising for an unknown dependency.
  Result<std::shared_ptr<Dependency>> build(const std::string& name);

  // build() and a check that the dependency is of type T.
  template <typename T>
  Result<std::shared_ptr<T>> build_as(const std::string& name) {
    Result<std::shared_ptr<Dependency>> built = build(name);
    if (!built.ok()) return built.status();
    std::shared_ptr<T> typed = std::dynamic_pointer_cast<T>(built.value());
    if (!typed) return Status::Error("dependency \"" + name + "\" is not of the expected type");
    return typed;
  }

  const Deadline& deadline() const { return deadline_; }

 private:
  const DependencyRegistry& registry_;
  WorkerContext& worker_;
  Deadline deadline_;
  // What this request built. A handful at most, so a vector beats a map;
  // each name points into the registry, which outlives the container.
  std::vector<std::pair<const std::string*, std::shared_ptr<Dependency>>> built_;
};

}  // namespace healthcheck

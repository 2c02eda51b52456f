// DependencyRegistry and the per-request Container.
#include "container.h"

namespace healthcheck {

void DependencyRegistry::add(const std::string& name, DependencyBuilder builder) {
  builders_[name] = std::move(builder);
}

const DependencyBuilder* DependencyRegistry::find(const std::string& name) const {
  auto found = builders_.find(name);
  return found == builders_.end() ? nullptr : &found->second;
}

std::vector<std::string> DependencyRegistry::names() const {
  std::vector<std::string> names;
  for (const auto& entry : builders_) names.push_back(entry.first);
  return names;
}

Result<std::shared_ptr<Dependency>> Container::build(const std::string& name) {
  auto cached = built_.find(name);
  if (cached != built_.end()) return cached->second;
  const DependencyBuilder* builder = registry_.find(name);
  if (builder == nullptr) return Status::Error("unknown dependency \"" + name + "\"");
  if (deadline_.expired()) return Status::Error("deadline passed before building \"" + name + "\"");
  Result<std::shared_ptr<Dependency>> built = (*builder)(deadline_);
  if (!built.ok()) return built.status();
  if (!built.value()) return Status::Error("builder for \"" + name + "\" returned nothing");
  built_[name] = built.value();
  return built;
}

}  // namespace healthcheck

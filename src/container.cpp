// DependencyRegistry and the per-request Container.
#include "container.h"

namespace healthcheck {

void DependencyRegistry::add(const std::string& name, DependencyBuilder builder) {
  builders_[name] = std::move(builder);
}

const DependencyBuilder* DependencyRegistry::find(const std::string& name) const {
  const auto* entry = find_entry(name);
  return entry == nullptr ? nullptr : &entry->second;
}

const std::pair<const std::string, DependencyBuilder>* DependencyRegistry::find_entry(
    const std::string& name) const {
  auto found = builders_.find(name);
  return found == builders_.end() ? nullptr : &*found;
}

std::vector<std::string> DependencyRegistry::names() const {
  std::vector<std::string> names;
  for (const auto& entry : builders_) names.push_back(entry.first);
  return names;
}

Result<std::shared_ptr<Dependency>> Container::build(const std::string& name) {
  for (const auto& [built_name, dependency] : built_) {
    if (*built_name == name) return dependency;
  }
  const auto* entry = registry_.find_entry(name);
  if (entry == nullptr) return Status::Error("unknown dependency \"" + name + "\"");
  if (deadline_.expired()) return Status::Error("deadline passed before building \"" + name + "\"");
  Result<std::shared_ptr<Dependency>> built = entry->second(deadline_, worker_);
  if (!built.ok()) return built.status();
  if (!built.value()) return Status::Error("builder for \"" + name + "\" returned nothing");
  built_.emplace_back(&entry->first, built.value());
  return built;
}

}  // namespace healthcheck

// WorkerContext.
#include "worker_context.h"

namespace healthcheck {

std::unique_ptr<KeptConnection>& WorkerContext::kept(const std::string& name) {
  for (auto& [kept_name, connection] : kept_) {
    if (kept_name == name) return connection;
  }
  kept_.emplace_back(name, nullptr);
  return kept_.back().second;
}

void WorkerContext::EndRequest() {
  for (auto& entry : kept_) {
    if (entry.second && !entry.second->FitToKeep()) entry.second.reset();
  }
}

}  // namespace healthcheck

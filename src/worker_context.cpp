// WorkerContext.
#include "worker_context.h"

namespace healthcheck {

std::unique_ptr<KeptConnection>& WorkerContext::kept(const std::string& name) {
  return kept_[name];
}

void WorkerContext::EndRequest() {
  for (auto& [name, connection] : kept_) {
    if (connection && !connection->FitToKeep()) connection.reset();
  }
}

}  // namespace healthcheck

// BuildMemoryBackend.
#include "memory_backend.h"

namespace healthcheck {

Result<std::shared_ptr<Dependency>> BuildMemoryBackend(const Deadline&, WorkerContext&) {
  return std::shared_ptr<Dependency>(std::make_shared<MemoryBackend>());
}

}  // namespace healthcheck

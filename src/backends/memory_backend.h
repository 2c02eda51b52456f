// MemoryBackend: clearskies' in-memory backend. It needs nothing outside the
// process, so building it always succeeds; listing it proves the container
// and the process itself are sound.
#pragma once

#include <memory>

#include "../container.h"

namespace healthcheck {

class MemoryBackend : public Dependency {};

Result<std::shared_ptr<Dependency>> BuildMemoryBackend(const Deadline& deadline, WorkerContext& worker);

}  // namespace healthcheck

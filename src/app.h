// App: a configuration turned into what a request needs, a registry of
// dependency builders and the HealthCheck to run. Built once at start (and
// again on reload); shared read-only by every request thread.
#pragma once

#include <memory>

#include "config.h"
#include "container.h"
#include "health_check.h"

namespace healthcheck {

struct App {
  Config config;
  DependencyRegistry registry;
  HealthCheck check;
};

// Registers memory_backend always and cursor_backend when it is configured,
// and turns the configured callable into a HealthCallable.
std::shared_ptr<const App> BuildApp(Config config);

// Answers one request with `app`, on `worker`'s kept connections. Never
// throws: a check that cannot complete is a failed check.
Response HandleWithApp(const Request& request, const App& app, WorkerContext& worker,
                       Log& log) noexcept;

}  // namespace healthcheck

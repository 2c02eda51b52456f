// App: a configuration turned into what a request needs, a registry of
// dependency builders, the HealthCheck of each path, the drain switch.
// Built once at start (and again on reload); shared read-only by every
// request thread.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "config.h"
#include "container.h"
#include "drain_switch.h"
#include "health_check.h"
#include "machine_counters.h"

namespace healthcheck {

struct App {
  Config config;
  DependencyRegistry registry;
  HealthCheck check;                // Runs for any path without a probe of its own.
  std::vector<HealthCheck> probes;  // Each named by its `probe`.
  std::shared_ptr<const DrainSwitch> drain;  // Null without "drain_file".
  // The machine's counts (Config::metrics); null when not counted. Slot 0
  // is the top-level check, then each probe in order.
  std::shared_ptr<MachineCounters> counters;
};

// Registers memory_backend always and cursor_backend when it is configured,
// and turns each configured check into a HealthCheck.
std::shared_ptr<const App> BuildApp(Config config);

// Whether `path` ends in "/NAME".
bool EndsInSegment(std::string_view path, std::string_view name);

// The check a request path runs: the probe NAME when the path ends in
// "/NAME", else the top-level check.
const HealthCheck& RouteRequest(const App& app, std::string_view path);

// The longest deadline of any check `app` runs (top level or probe): how
// long a request in flight may rightly take, for whoever waits on one.
int64_t LongestTimeoutMs(const App& app);

// Answers one request with `app`, on `worker`'s kept connections. Never
// throws: a check that cannot complete is a failed check.
Response HandleWithApp(const Request& request, const App& app, WorkerContext& worker,
                       Log& log) noexcept;

}  // namespace healthcheck

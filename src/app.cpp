// BuildApp: the wiring from configuration to builders and callables; and the
// choice of answer: which check, drained or run, envelope or report.
#include "app.h"

#include <algorithm>

#include "authorization.h"
#include "backends/cursor.h"
#include "backends/memory_backend.h"
#include "callables/command_callable.h"
#include "callables/sql_callable.h"
#include "driver_handover.h"
#include "health_json.h"

namespace healthcheck {
namespace {

HealthCheck MakeCheck(const CheckSettings& settings, const std::string& probe, int failure_status) {
  HealthCheck check;
  check.probe = probe;
  check.services = settings.services;
  check.timeout_ms = settings.timeout_ms;
  check.failure_status = failure_status;
  check.drains = settings.drains;
  switch (settings.callable.kind) {
    case CallableSettings::Kind::kNone:
      break;
    case CallableSettings::Kind::kSql:
      check.callable = MakeSqlCallable(settings.callable.sql);
      check.callable_name = "callable (sql)";
      break;
    case CallableSettings::Kind::kCommand:
      check.callable = MakeCommandCallable(settings.callable.command);
      check.callable_name = "callable (command)";
      break;
  }
  return check;
}

// Whether this caller gets the detailed report: it asked for it, and it is
// authorised. Accept is looked at first, so an ordinary request pays for
// no more than that.
bool WantsDetails(const Request& request, const App& app) {
  return app.config.details && AcceptsHealthJson(request.accept) &&
         IsAuthorised(*app.config.details, request);
}

Response Answer(const Request& request, const App& app, WorkerContext& worker, Log& log) {
  if (!app.config.not_found_notice.empty()) log.error(app.config.not_found_notice);
  const HealthCheck& check = RouteRequest(app, request.path);
  bool details = WantsDetails(request, app);
  if (check.drains && app.drain && app.drain->Draining(log)) {
    int status = app.config.drain_status;
    if (!details) return MakeResponse(Health::kUnhealthy, BodyModeFor(request), status);
    std::string why = "draining: " + app.drain->path() + " exists (or cannot be seen)";
    return MakeHealthJsonResponse(status, HealthJsonBody(false, {}, why), BodyModeFor(request));
  }
  if (!details) return HandleHealth(request, check, app.registry, worker, log);
  CheckOutcome outcome = CheckAndLog(check, app.registry, worker, log);
  std::string output;
  for (const CheckRecord& record : outcome.records) {
    if (!record.passed) output = DescribeFailure(record);
  }
  return MakeHealthJsonResponse(outcome.healthy ? 200 : check.failure_status,
                                HealthJsonBody(outcome.healthy, outcome.records, output),
                                BodyModeFor(request));
}

}  // namespace

std::shared_ptr<const App> BuildApp(Config config) {
  auto app = std::make_shared<App>();
  app->registry.add(std::string(kMemoryBackendName), BuildMemoryBackend);
  if (config.cursor_backend) {
    CursorBackendSettings settings = *config.cursor_backend;
    // main() hands a configuration whose driver this program lacks to the
    // program that has it, and a reload refuses one; an App built from one
    // anyway fails its checks with the same reason.
    CursorBuilder open = LinkedCursorBuilder(settings.driver);
    Status linked = CheckDriverLinked(config);
    app->registry.add(std::string(kCursorBackendName),
                      [settings, open, linked](const Deadline& deadline,
                                               WorkerContext& worker) -> Result<std::shared_ptr<Dependency>> {
                        if (!linked.ok()) return linked;
                        Result<std::shared_ptr<Cursor>> cursor = open(settings, deadline, worker);
                        if (!cursor.ok()) return cursor.status();
                        return std::shared_ptr<Dependency>(cursor.value());
                      });
  }
  app->check = MakeCheck(config.check, "", config.failure_status);
  for (const ProbeSettings& probe : config.probes) {
    app->probes.push_back(MakeCheck(probe.check, probe.name, config.failure_status));
  }
  if (!config.drain_file.empty()) app->drain = std::make_shared<const DrainSwitch>(config.drain_file);
  app->config = std::move(config);
  return app;
}

const HealthCheck& RouteRequest(const App& app, std::string_view path) {
  for (const HealthCheck& probe : app.probes) {
    const std::string& name = probe.probe;
    if (path.size() > name.size() && path[path.size() - name.size() - 1] == '/' &&
        path.substr(path.size() - name.size()) == name) {
      return probe;
    }
  }
  return app.check;
}

int64_t LongestTimeoutMs(const App& app) {
  int64_t longest = app.check.timeout_ms;
  for (const HealthCheck& probe : app.probes) longest = std::max(longest, probe.timeout_ms);
  return longest;
}

Response HandleWithApp(const Request& request, const App& app, WorkerContext& worker,
                       Log& log) noexcept {
  try {
    return Answer(request, app, worker, log);
  } catch (const std::exception&) {
    // Out of memory outside a check's steps (a log line, say): this request
    // fails, and the process goes on. Nothing here may allocate.
    log.error("healthcheck: unhealthy: the check could not complete (out of memory?)");
    return MakeResponse(Health::kUnhealthy, BodyModeFor(request),
                        RouteRequest(app, request.path).failure_status);
  }
}

}  // namespace healthcheck

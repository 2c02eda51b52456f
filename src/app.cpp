// BuildApp: the wiring from configuration to builders and callables.
#include "app.h"

#include "backends/memory_backend.h"
#include "backends/sqlite_cursor.h"
#include "callables/command_callable.h"
#include "callables/sql_callable.h"

namespace healthcheck {

std::shared_ptr<const App> BuildApp(Config config) {
  auto app = std::make_shared<App>();
  app->registry.add(std::string(kMemoryBackendName), BuildMemoryBackend);
  if (config.cursor_backend) {
    CursorBackendSettings settings = *config.cursor_backend;
    app->registry.add(std::string(kCursorBackendName), [settings](const Deadline& deadline, WorkerContext& worker) {
      return BuildSqliteCursor(settings, deadline, worker);
    });
  }
  app->check.services = config.services;
  app->check.timeout_ms = config.request_timeout_ms;
  app->check.failure_status = config.failure_status == 503 ? FailureStatus::kServiceUnavailable
                                                          : FailureStatus::kInternalServerError;
  switch (config.callable.kind) {
    case CallableSettings::Kind::kNone:
      break;
    case CallableSettings::Kind::kSql:
      app->check.callable = MakeSqlCallable(config.callable.sql);
      app->check.callable_name = "callable (sql)";
      break;
    case CallableSettings::Kind::kCommand:
      app->check.callable = MakeCommandCallable(config.callable.command);
      app->check.callable_name = "callable (command)";
      break;
  }
  app->config = std::move(config);
  return app;
}

Response HandleWithApp(const Request& request, const App& app, WorkerContext& worker,
                       Log& log) noexcept {
  try {
    if (!app.config.not_found_notice.empty()) log.error(app.config.not_found_notice);
    return HandleHealth(request, app.check, app.registry, worker, log);
  } catch (const std::exception&) {
    // Out of memory outside a check's steps (a log line, say): this request
    // fails, and the process goes on. Nothing here may allocate.
    log.error("healthcheck: unhealthy: the check could not complete (out of memory?)");
    return MakeResponse(Health::kUnhealthy,
                        request.is_head() ? BodyMode::kHeadersOnly : BodyMode::kWithBody,
                        app.check.failure_status);
  }
}

}  // namespace healthcheck

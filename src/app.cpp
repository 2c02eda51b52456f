// BuildApp: the wiring from configuration to builders and callables; and the
// choice of answer: which check, drained or run, envelope or report.
#include "app.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "authorization.h"
#include "backends/cursor.h"
#include "backends/memory_backend.h"
#include "backends/server_support.h"
#include "callables/command_callable.h"
#include "callables/sql_callable.h"
#include "driver_handover.h"
#include "fnv_hash.h"
#include "health_json.h"
#include "metrics_page.h"
#include "shared_result.h"

namespace healthcheck {
namespace {

// The configuration file's one name, whatever path reached it (a symbolic
// link to its folder, say): processes started either way share one shield
// and one count.
std::string CanonicalSource(const std::string& source) {
  char* resolved = source.empty() ? nullptr : realpath(source.c_str(), nullptr);
  if (resolved == nullptr) return source;
  std::string canonical(resolved);
  free(resolved);
  return canonical;
}

// Whether a fingerprint covers the database password. The one in a shared
// file's name must not: anyone who may list cache_folder could test
// guesses against an unsalted hash.
enum class Secrets { kIncluded, kLeftOut };

// FNV-1a over what a check checks: a shared result made by another
// configuration (before a reload) must not answer for this one.
// `source` is the configuration file's CanonicalSource.
uint64_t Fingerprint(const Config& config, const std::string& source, const CheckSettings& settings,
                     const std::string& probe, Secrets secrets) {
  FnvHash hash;
  hash.AddText(source).AddText(probe);
  for (const std::string& service : settings.services) hash.AddText(service);
  hash.AddText(std::to_string(static_cast<int>(settings.callable.kind))).AddText(settings.callable.sql);
  for (const std::string& word : settings.callable.command) hash.AddText(word);
  hash.AddText(std::to_string(settings.timeout_ms));
  if (config.cursor_backend) {
    CursorBackendSettings cursor = *config.cursor_backend;
    if (secrets == Secrets::kLeftOut) cursor.server.password.clear();
    hash.AddText(cursor.database).AddText(ConnectionFingerprint(cursor));
  }
  return hash.value();
}

// `source` is the configuration file's CanonicalSource.
HealthCheck MakeCheck(const Config& config, const std::string& source, const CheckSettings& settings,
                      const std::string& probe, int failure_status) {
  HealthCheck check;
  if (settings.cache) {
    check.cache = settings.cache;
    check.fingerprint = Fingerprint(config, source, settings, probe, Secrets::kIncluded);
    // A fingerprint in the name too: checks of two configurations (or of
    // one before and after a reload) never wait on each other's lock.
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-%016llx.result",
             static_cast<unsigned long long>(Fingerprint(config, source, settings, probe, Secrets::kLeftOut)));
    check.shared_file = config.cache_folder + "/" + (probe.empty() ? "health" : "probe-" + probe) + suffix;
    check.shared_view = std::make_shared<SharedResultView>(check.shared_file, check.fingerprint);
  }
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

// Whether `problem` with the shared file `path` is to be logged now: at
// most once a minute on the machine, told by a mark beside the file
// (PATH.said), since under CGI every request is a process of its own. Where
// no mark can be had (a folder no one may write), at most once a minute by
// each process.
bool SayNowAbout(const std::string& path, const std::string& problem) {
  constexpr int64_t kQuietSeconds = 60;
  std::string mark = path + ".said";
  struct stat info;
  if (lstat(mark.c_str(), &info) == 0 && S_ISREG(info.st_mode)) {
    int64_t age = time(nullptr) - info.st_mtime;
    // A mark from the future is a stepped clock's: it silences nothing.
    if (age >= 0 && age < kQuietSeconds) return false;
  }
  int fd = open(mark.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
  if (fd >= 0 && fstat(fd, &info) == 0 && S_ISREG(info.st_mode)) {
    futimens(fd, nullptr);  // Now, for the others.
    close(fd);
    return true;
  }
  if (fd >= 0) close(fd);
  static std::mutex mutex;
  static std::map<std::string, int64_t> said_at;  // CLOCK_BOOTTIME seconds.
  int64_t now = BootClockNowNs() / 1000000000;
  std::lock_guard<std::mutex> hold(mutex);
  auto said = said_at.find(path + '\0' + problem);
  if (said != said_at.end() && now - said->second < kQuietSeconds) return false;
  said_at[path + '\0' + problem] = now;
  return true;
}

// Why `outcome` failed ("cursor_backend failed after 1.2 ms: ..."); empty
// when it did not.
std::string FailureOf(const CheckOutcome& outcome) {
  std::string reason;
  for (const CheckRecord& record : outcome.records) {
    if (!record.passed) reason = DescribeFailure(record);
  }
  return reason;
}

// CheckAndLog, counted for the metrics: each step's time, and the outcome.
CheckOutcome RunCounted(const HealthCheck& check, const App& app, WorkerContext& worker, Log& log,
                        const Deadline& deadline) {
  CheckOutcome outcome = CheckAndLog(check, app.registry, worker, log, deadline);
  if (app.counters) {
    // The records are the steps run, in order, up to the first that failed.
    for (size_t step = 0; step < outcome.records.size() && step < check.step_slots.size(); ++step) {
      app.counters->CountStep(check.metrics_slot, check.step_slots[step],
                              static_cast<int64_t>(outcome.records[step].duration_ms * 1e6));
    }
    app.counters->CountCheck(check.metrics_slot, outcome.healthy);
  }
  return outcome;
}

// The shield's outcome for this request: the kept view's fresh result
// (no system call), else ShieldedCheck's through the file.
SharedOutcome ShieldedOutcome(const HealthCheck& check, const App& app, WorkerContext& worker, Log& log) {
  CacheWindow window{check.cache->success_ms, check.cache->failure_ms};
  if (std::optional<SharedOutcome> fresh = check.shared_view->Fresh(BootClockNowNs(), window)) return *fresh;
  Result<SharedResult> shared = SharedResult::Open(check.shared_file, check.fingerprint);
  if (!shared.ok() && SayNowAbout(check.shared_file, shared.status().message())) {
    log.error(LogPrefix(check) + shared.status().message() + "; checking alone (said once)");
  }
  return ShieldedCheck(shared.ok() ? &shared.value() : nullptr, window, check.timeout_ms,
                       Deadline::FromNow(check.timeout_ms), [&](const Deadline& deadline) {
                         CheckOutcome own = RunCounted(check, app, worker, log, deadline);
                         SharedOutcome result;
                         result.healthy = own.healthy;
                         result.reason = FailureOf(own);
                         return result;
                       });
}

// The check's answer through the flood shield: the machine's shared result
// when it is fresh, this request's own run when no one else is running it,
// else the run under way's (shared_result.h). A shared failure is logged
// again, so every failed answer has its reason in the log.
Response AnswerShielded(const Request& request, const HealthCheck& check, const App& app,
                        WorkerContext& worker, Log& log) {
  SharedOutcome outcome = ShieldedOutcome(check, app, worker, log);
  bool ran = outcome.source == OutcomeSource::kOwnRun;
  if (app.counters && outcome.source == OutcomeSource::kCache) {
    app.counters->CountCacheHit(check.metrics_slot);
  } else if (app.counters && outcome.source == OutcomeSource::kSharedRun) {
    app.counters->CountSharedWait(check.metrics_slot);
  }
  if (outcome.waited_out) {
    log.error(LogPrefix(check) + "unhealthy: " + outcome.reason);
  } else if (!ran && !outcome.healthy) {
    int64_t age_ms = (BootClockNowNs() - outcome.started_ns) / 1000000;
    log.error(LogPrefix(check) + "unhealthy (the shared result of a check " + std::to_string(age_ms) +
              " ms ago): " + outcome.reason);
  }
  return MakeResponse(outcome.healthy ? Health::kHealthy : Health::kUnhealthy, BodyModeFor(request),
                      check.failure_status);
}

// The metrics page, to authorised callers only (the detailed report's rule,
// without its Accept): the counts say what a probe's checks found, and how
// often, which is as much as the report says.
Response AnswerMetrics(const Request& request, const App& app) {
  if (!IsAuthorised(*app.config.details, request)) {
    return MakeTextResponse(kForbidden, "text/plain; charset=utf-8", "metrics are for authorised callers\n",
                            BodyModeFor(request));
  }
  return MakeTextResponse(200, kMetricsContentType, MetricsPage(app.counters->shapes(), app.counters->Read()),
                          BodyModeFor(request));
}

// The answer of `check` (not yet counted): drained, shielded, plain, or the
// detailed report.
Response AnswerCheck(const Request& request, const HealthCheck& check, const App& app,
                     WorkerContext& worker, Log& log, RequestOutcome* counted_as) {
  bool details = WantsDetails(request, app);
  if (check.drains && app.drain && app.drain->Draining(log)) {
    *counted_as = RequestOutcome::kDrained;
    int status = app.config.drain_status;
    if (!details) return MakeResponse(Health::kUnhealthy, BodyModeFor(request), status);
    std::string why = "draining: " + app.drain->path() + " exists (or cannot be seen)";
    return MakeHealthJsonResponse(status, HealthJsonBody(false, {}, why), BodyModeFor(request));
  }
  if (!details && check.cache) return AnswerShielded(request, check, app, worker, log);
  CheckOutcome outcome = RunCounted(check, app, worker, log, Deadline::FromNow(check.timeout_ms));
  if (!details) {
    return MakeResponse(outcome.healthy ? Health::kHealthy : Health::kUnhealthy, BodyModeFor(request),
                        check.failure_status);
  }
  return MakeHealthJsonResponse(outcome.healthy ? 200 : check.failure_status,
                                HealthJsonBody(outcome.healthy, outcome.records, FailureOf(outcome)),
                                BodyModeFor(request));
}

Response Answer(const Request& request, const App& app, WorkerContext& worker, Log& log) {
  if (!app.config.not_found_notice.empty()) log.error(app.config.not_found_notice);
  if (app.counters && EndsInSegment(request.path, kMetricsProbe)) return AnswerMetrics(request, app);
  const HealthCheck& check = RouteRequest(app, request.path);
  RequestOutcome counted_as = RequestOutcome::kUnhealthy;
  Response response = AnswerCheck(request, check, app, worker, log, &counted_as);
  if (app.counters) {
    if (counted_as != RequestOutcome::kDrained) {
      // 200 is the healthy answer's status only: a failure status is never 200.
      counted_as = response.status_code == 200 ? RequestOutcome::kHealthy : RequestOutcome::kUnhealthy;
    }
    app.counters->CountRequest(check.metrics_slot, counted_as);
    std::string problem = app.counters->TakeProblem();
    if (!problem.empty() && SayNowAbout(app.counters->path(), problem)) log.error(problem);
  }
  return response;
}

// The top-level check, then each probe: the order of the counters' slots.
std::vector<HealthCheck*> CheckList(App& app) {
  std::vector<HealthCheck*> checks = {&app.check};
  for (HealthCheck& probe : app.probes) checks.push_back(&probe);
  return checks;
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
  // Resolved once: every cached check's file name and the counts' name hold it.
  std::string source = CanonicalSource(config.source);
  app->check = MakeCheck(config, source, config.check, "", config.failure_status);
  for (const ProbeSettings& probe : config.probes) {
    app->probes.push_back(MakeCheck(config, source, probe.check, probe.name, config.failure_status));
  }
  if (!config.drain_file.empty()) app->drain = std::make_shared<const DrainSwitch>(config.drain_file);
  if (config.metrics()) {
    std::vector<CheckShape> shapes;
    for (HealthCheck* check : CheckList(*app)) {
      check->metrics_slot = shapes.size();
      std::vector<std::string> steps = check->services;
      if (check->callable) steps.push_back(check->callable_name);
      // A service listed twice is one step on the page: Prometheus keeps
      // one sample per series.
      CheckShape shape{check->probe, {}};
      for (const std::string& step : steps) {
        auto known = std::find(shape.steps.begin(), shape.steps.end(), step);
        check->step_slots.push_back(static_cast<size_t>(known - shape.steps.begin()));
        if (known == shape.steps.end()) shape.steps.push_back(step);
      }
      shapes.push_back(std::move(shape));
    }
    app->counters = MachineCounters::Open(config.cache_folder, source, std::move(shapes));
  }
  app->config = std::move(config);
  return app;
}

bool EndsInSegment(std::string_view path, std::string_view name) {
  return path.size() > name.size() && path[path.size() - name.size() - 1] == '/' &&
         path.substr(path.size() - name.size()) == name;
}

const HealthCheck& RouteRequest(const App& app, std::string_view path) {
  for (const HealthCheck& probe : app.probes) {
    if (EndsInSegment(path, probe.probe)) return probe;
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

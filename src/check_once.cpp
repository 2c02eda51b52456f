// RunCheckOnce.
#include "check_once.h"

#include <cstdio>

#include "exit_codes.h"

namespace healthcheck {

int RunCheckOnce(const App& app, const std::string& probe, bool quiet, Log& log) {
  Request request;
  if (!probe.empty()) {
    request.path = "/" + probe;
    if (RouteRequest(app, request.path).probe != probe) {
      std::string known;
      for (const HealthCheck& check : app.probes) known += (known.empty() ? "" : ", ") + check.probe;
      log.error("--probe " + probe + ": the configuration has no such probe (" +
                (known.empty() ? std::string("it has none") : "it has: " + known) + ")");
      return kExitUsage;
    }
  }
  WorkerContext worker;
  Response response = HandleWithApp(request, app, worker, log);
  bool healthy = response.status_code == 200;
  if (healthy && quiet) return kExitOk;
  std::string_view body = EnvelopeBody(healthy ? Health::kHealthy : Health::kUnhealthy);
  std::fwrite(body.data(), 1, body.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  return healthy ? kExitOk : kExitUnhealthy;
}

}  // namespace healthcheck

// RunCheckOnce.
#include "check_once.h"

#include <cstdio>

#include "exit_codes.h"

namespace healthcheck {

int RunCheckOnce(const App& app, bool quiet, Log& log) {
  WorkerContext worker;
  Response response = HandleWithApp(Request{}, app, worker, log);
  bool healthy = response.status_code == 200;
  if (healthy && quiet) return kExitOk;
  std::string_view body = EnvelopeBody(healthy ? Health::kHealthy : Health::kUnhealthy);
  std::fwrite(body.data(), 1, body.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  return healthy ? kExitOk : kExitUnhealthy;
}

}  // namespace healthcheck

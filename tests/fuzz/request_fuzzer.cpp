// libFuzzer target: the request-to-response path. The first byte picks a
// configuration, the rest is the request method; the answer must always be
// one of the four envelope answers, HEAD without a body.
#include <stddef.h>
#include <stdint.h>

#include <string>

#include "../../src/app.h"
#include "../../src/config.h"

namespace {

const healthcheck::App& PickApp(uint8_t selector) {
  static const auto kApps = [] {
    std::vector<std::shared_ptr<const healthcheck::App>> apps;
    for (const char* text : {
             "{}",
             R"({"services": ["memory_backend"]})",
             R"({"services": ["memory_backend", "cursor_backend"],
                 "cursor_backend": {"database": "/nonexistent/app.db"}})",
             R"({"callable": {"sql": "SELECT 1"},
                 "cursor_backend": {"database": "/nonexistent/app.db"}})",
         }) {
      apps.push_back(healthcheck::BuildApp(healthcheck::ParseConfig(text, "/f.json").value()));
    }
    return apps;
  }();
  return *kApps[selector % kApps.size()];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  healthcheck::Request request;
  request.method.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  healthcheck::MemoryLog log;
  healthcheck::WorkerContext worker;
  healthcheck::Response response =
      healthcheck::HandleWithApp(request, PickApp(data[0]), worker, log);
  healthcheck::Health health =
      response.status_code == 200 ? healthcheck::Health::kHealthy : healthcheck::Health::kUnhealthy;
  healthcheck::BodyMode mode = request.is_head() ? healthcheck::BodyMode::kHeadersOnly
                                                 : healthcheck::BodyMode::kWithBody;
  if (response.bytes != healthcheck::MakeResponse(health, mode).bytes) __builtin_trap();
  if ((response.status_code == 200) != log.lines.empty()) __builtin_trap();
  return 0;
}

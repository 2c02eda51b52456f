// libFuzzer target: the request-to-response path. The first byte picks a
// configuration; the rest, split at '\n', is the method, the path, Accept,
// Authorization and REMOTE_ADDR. The answer must be an envelope answer (HEAD
// without a body) unless the caller is authorised and asked for the report,
// and then it is health+json; never anything else.
#include <stddef.h>
#include <stdint.h>

#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "../../src/app.h"
#include "../../src/authorization.h"
#include "../../src/config.h"
#include "../../src/health_json.h"

namespace {

constexpr char kToken[] = "fuzz-token-0123456789";

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
             R"({"failure_status": 503, "cursor_backend": {"database": "/nonexistent/app.db"},
                 "probes": {"live": {"services": ["memory_backend"]},
                            "ready": {"services": ["cursor_backend"], "drains": true},
                            "gone": {"services": ["memory_backend"], "drains": true}},
                 "drain_file": "/", "drain_status": 404,
                 "details": {"token_file": "token", "trusted_addresses": ["10.0.0.0/8", "::1"]}})",
         }) {
      healthcheck::Config config = healthcheck::ParseConfig(text, "/f.json").value();
      // ParseConfig reads no files: the token LoadConfig would read.
      if (config.details) config.details->token = kToken;
      apps.push_back(healthcheck::BuildApp(config));
    }
    return apps;
  }();
  return *kApps[selector % kApps.size()];
}

// The next '\n'-separated field of `rest`.
std::string NextField(std::string_view& rest) {
  size_t end = rest.find('\n');
  std::string field(rest.substr(0, end));
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  return field;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace healthcheck;
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  Request request;
  request.method = NextField(rest);
  request.path = NextField(rest);
  request.accept = NextField(rest);
  request.authorization = NextField(rest);
  request.remote_addr = NextField(rest);
  const App& app = PickApp(data[0]);
  MemoryLog log;
  WorkerContext worker;
  Response response = HandleWithApp(request, app, worker, log);
  BodyMode mode = BodyModeFor(request);
  bool detailed = app.config.details && AcceptsHealthJson(request.accept) &&
                  IsAuthorised(*app.config.details, request);
  if (detailed) {
    if (response.bytes.find("Content-Type: application/health+json\r\n") == std::string_view::npos) {
      __builtin_trap();
    }
    // The body, when there is one, is valid JSON in valid UTF-8.
    std::string body(response.bytes.substr(response.bytes.find("\r\n\r\n") + 4));
    if (mode == BodyMode::kWithBody) {
      rapidjson::Document document;
      document.Parse<rapidjson::kParseValidateEncodingFlag>(body.c_str(), body.size());
      if (document.HasParseError() || !document.IsObject()) __builtin_trap();
    } else if (!body.empty()) {
      __builtin_trap();
    }
    return 0;
  }
  Health health = response.status_code == 200 ? Health::kHealthy : Health::kUnhealthy;
  if (response.bytes != MakeResponse(health, mode, response.status_code).bytes) __builtin_trap();
  return 0;
}

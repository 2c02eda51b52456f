// Named probes, the drain switch and the detailed report, end to end in
// memory: configuration text in, the answer's bytes out.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include "../../src/app.h"
#include "test_support.h"

using namespace healthcheck;

namespace {
constexpr char kToken[] = "probe-token-0123456789abcdef";

// A configuration in its own folder: a working database, a token file, and
// live/ready/startup probes the way the README shows them.
class ProbeFixture {
 public:
  ProbeFixture() {
    testing::MakeDatabase(dir_.file("app.db"));
    testing::WriteFile(dir_.file("token"), std::string(kToken) + "\n");
    REQUIRE(chmod(dir_.file("token").c_str(), 0600) == 0);
  }

  // Loads `json` from a file, as the server does (the token file is read too).
  std::shared_ptr<const App> Load(const std::string& json) {
    testing::WriteFile(dir_.file("healthcheck.json"), json);
    Result<Config> config = LoadConfig(dir_.file("healthcheck.json"));
    REQUIRE_MESSAGE(config.ok(), config.status().message());
    return BuildApp(config.value());
  }

  Response Ask(const App& app, const Request& request) {
    WorkerContext worker;
    return HandleWithApp(request, app, worker, log_);
  }

  const testing::TempDir& dir() const { return dir_; }
  MemoryLog& log() { return log_; }

 private:
  testing::TempDir dir_;
  MemoryLog log_;
};

const std::string kProbes = R"({
  "cursor_backend": {"database": "app.db"},
  "services": ["memory_backend", "cursor_backend"],
  "failure_status": 503,
  "probes": {
    "live": {"services": ["memory_backend"]},
    "ready": {"services": ["memory_backend", "cursor_backend"], "drains": true},
    "startup": {"services": ["cursor_backend"], "timeout_ms": 500}
  },
  "drain_file": "drain",
  "drain_status": 404,
  "details": {"token_file": "token", "trusted_addresses": ["10.0.0.0/8"]}
})";

Request At(const std::string& path) {
  Request request;
  request.path = path;
  return request;
}

Request Authorised(const std::string& path) {
  Request request = At(path);
  request.accept = "application/health+json";
  request.authorization = std::string("Bearer ") + kToken;
  return request;
}

std::string Body(const Response& response) {
  std::string_view bytes = response.bytes;
  return std::string(bytes.substr(bytes.find("\r\n\r\n") + 4));
}
}  // namespace

TEST_CASE("a path ending in /NAME runs that probe; any other the top-level check") {
  ProbeFixture fixture;
  auto app = fixture.Load(kProbes);
  CHECK(RouteRequest(*app, "/health/live").probe == "live");
  CHECK(RouteRequest(*app, "/cgi-bin/healthcheck/ready").probe == "ready");
  CHECK(RouteRequest(*app, "/ready").probe == "ready");
  CHECK(RouteRequest(*app, "/startup").probe == "startup");
  for (const char* other : {"", "/", "/health", "/health/", "/health/live/", "/health/alive",
                            "/health/xlive", "live", "/health/LIVE", "/health/live?x", "/livez"}) {
    CAPTURE(other);
    CHECK(&RouteRequest(*app, other) == &app->check);
  }
}

TEST_CASE("live stays healthy while the database is gone; ready and the top level fail with 503") {
  ProbeFixture fixture;
  auto app = fixture.Load(kProbes);
  CHECK(fixture.Ask(*app, At("/health/ready")).status_code == 200);
  REQUIRE(unlink(fixture.dir().file("app.db").c_str()) == 0);
  CHECK(fixture.Ask(*app, At("/health/live")).status_code == 200);
  CHECK(fixture.log().lines.empty());
  Response ready = fixture.Ask(*app, At("/health/ready"));
  CHECK(ready.status_code == 503);
  CHECK(Body(ready) == EnvelopeBody(Health::kUnhealthy));
  CHECK(fixture.Ask(*app, At("/health")).status_code == 503);
  CHECK(fixture.Ask(*app, At("/health/startup")).status_code == 503);
  REQUIRE(fixture.log().lines.size() == 3);
  CHECK(testing::WithoutDuration(fixture.log().lines[0]).rfind(
            "healthcheck: probe ready: unhealthy: cursor_backend failed after N ms: ", 0) == 0);
  CHECK(testing::WithoutDuration(fixture.log().lines[1]).rfind(
            "healthcheck: unhealthy: cursor_backend failed after N ms: ", 0) == 0);
  CHECK(fixture.log().lines[2].rfind("healthcheck: probe startup: unhealthy: ", 0) == 0);
}

TEST_CASE("each probe has its own timeout") {
  ProbeFixture fixture;
  auto app = fixture.Load(kProbes);
  CHECK(app->check.timeout_ms == 2000);
  CHECK(RouteRequest(*app, "/startup").timeout_ms == 500);
  CHECK(RouteRequest(*app, "/startup").failure_status == 503);
}

TEST_CASE("the drain file drains only probes marked drains, with the drain status, unchecked") {
  ProbeFixture fixture;
  auto app = fixture.Load(kProbes);
  CHECK(fixture.Ask(*app, At("/health/ready")).status_code == 200);
  CHECK(fixture.log().lines.empty());  // Not draining at start is no news.
  testing::WriteFile(fixture.dir().file("drain"), "");
  // The database going away shows the check does not run while drained.
  REQUIRE(unlink(fixture.dir().file("app.db").c_str()) == 0);
  for (int i = 0; i < 3; ++i) {
    Response ready = fixture.Ask(*app, At("/health/ready"));
    CHECK(ready.status_code == 404);
    CHECK(Body(ready) == EnvelopeBody(Health::kUnhealthy));
  }
  CHECK(fixture.Ask(*app, At("/health/live")).status_code == 200);
  REQUIRE(fixture.log().lines.size() == 1);  // Once per change, not per request.
  CHECK(fixture.log().lines[0] == "healthcheck: draining: " + fixture.dir().file("drain") +
                                      " exists; draining checks answer without running");
  REQUIRE(unlink(fixture.dir().file("drain").c_str()) == 0);
  testing::MakeDatabase(fixture.dir().file("app.db"));
  CHECK(fixture.Ask(*app, At("/health/ready")).status_code == 200);
  CHECK(fixture.Ask(*app, At("/health/ready")).status_code == 200);
  REQUIRE(fixture.log().lines.size() == 2);
  CHECK(fixture.log().lines[1] == "healthcheck: drain over: " + fixture.dir().file("drain") +
                                      " is gone; draining checks run again");
}

TEST_CASE("a drain file that cannot be seen drains, and says why") {
  ProbeFixture fixture;
  auto app = fixture.Load(R"({"probes": {"ready": {"drains": true}}, "drain_file": "loop/drain"})");
  // A symbolic link to itself: stat fails with ELOOP, for root too (a
  // folder's mode would not stop root).
  REQUIRE(symlink("loop", fixture.dir().file("loop").c_str()) == 0);
  CHECK(fixture.Ask(*app, At("/ready")).status_code == 500);
  CHECK(fixture.Ask(*app, At("/ready")).status_code == 500);
  REQUIRE(fixture.log().lines.size() == 1);
  CHECK(fixture.log().lines[0] == "healthcheck: draining: cannot tell whether " +
                                      fixture.dir().file("loop/drain") +
                                      " exists (Too many levels of symbolic links); draining checks "
                                      "answer without running");
}

TEST_CASE("an authorised caller asking for health+json gets the report, same status") {
  ProbeFixture fixture;
  auto app = fixture.Load(kProbes);
  Response healthy = fixture.Ask(*app, Authorised("/health/ready"));
  CHECK(healthy.status_code == 200);
  CHECK(healthy.bytes.find("Content-Type: application/health+json\r\n") != std::string_view::npos);
  CHECK(healthy.bytes.find("Vary: Accept, Authorization\r\n") != std::string_view::npos);
  rapidjson::Document document;
  document.Parse(Body(healthy).c_str());
  REQUIRE_FALSE(document.HasParseError());
  CHECK(std::string(document["status"].GetString()) == "pass");
  CHECK(document["checks"].HasMember("memory_backend:responseTime"));
  CHECK(document["checks"].HasMember("cursor_backend:responseTime"));

  REQUIRE(unlink(fixture.dir().file("app.db").c_str()) == 0);
  Response failed = fixture.Ask(*app, Authorised("/health/ready"));
  CHECK(failed.status_code == 503);
  document.Parse(Body(failed).c_str());
  REQUIRE_FALSE(document.HasParseError());
  CHECK(std::string(document["status"].GetString()) == "fail");
  std::string output = document["checks"]["cursor_backend:responseTime"][0]["output"].GetString();
  CHECK(output.find("app.db") != std::string::npos);

  // HEAD: the same headers, no body.
  Request head = Authorised("/health/ready");
  head.method = "HEAD";
  Response headers = fixture.Ask(*app, head);
  CHECK(headers.status_code == 503);
  CHECK(Body(headers).empty());
}

TEST_CASE("everyone else gets the envelope byte for byte, even when the report would hold a reason") {
  ProbeFixture fixture;
  auto app = fixture.Load(kProbes);
  REQUIRE(unlink(fixture.dir().file("app.db").c_str()) == 0);
  const Response kEnvelope = MakeResponse(Health::kUnhealthy, BodyMode::kWithBody, 503);
  std::vector<Request> callers;
  callers.push_back(At("/health/ready"));                 // Anonymous.
  Request not_asking = Authorised("/health/ready");        // Authorised, did not ask.
  not_asking.accept = "application/json, */*";
  callers.push_back(not_asking);
  Request wrong_token = Authorised("/health/ready");
  wrong_token.authorization = std::string("Bearer ") + kToken + "x";
  callers.push_back(wrong_token);
  Request untrusted = At("/health/ready");                 // Asks, from outside.
  untrusted.accept = "application/health+json";
  untrusted.remote_addr = "192.0.2.7";
  callers.push_back(untrusted);
  Request unix_socket = untrusted;
  unix_socket.remote_addr = "unix:";
  callers.push_back(unix_socket);
  for (const Request& caller : callers) {
    CAPTURE(caller.authorization);
    CAPTURE(caller.accept);
    CAPTURE(caller.remote_addr);
    CHECK(fixture.Ask(*app, caller).bytes == kEnvelope.bytes);
  }
  Request trusted = untrusted;
  trusted.remote_addr = "10.20.30.40";
  CHECK(fixture.Ask(*app, trusted).bytes.find("application/health+json") != std::string_view::npos);
}

TEST_CASE("a drained probe reports why to an authorised caller, and nothing to others") {
  ProbeFixture fixture;
  auto app = fixture.Load(kProbes);
  testing::WriteFile(fixture.dir().file("drain"), "");
  Response detailed = fixture.Ask(*app, Authorised("/health/ready"));
  CHECK(detailed.status_code == 404);
  CHECK(Body(detailed).find("\"output\":\"draining: " + fixture.dir().file("drain")) != std::string::npos);
  CHECK(fixture.Ask(*app, At("/health/ready")).bytes ==
        MakeResponse(Health::kUnhealthy, BodyMode::kWithBody, 404).bytes);
}

TEST_CASE("without probes, every path runs the one check, exactly as before") {
  ProbeFixture fixture;
  auto app = fixture.Load(R"({"services": ["memory_backend"]})");
  for (const char* path : {"/health", "/health/ready", "/live", ""}) {
    CHECK(fixture.Ask(*app, At(path)).bytes == MakeResponse(Health::kHealthy, BodyMode::kWithBody).bytes);
  }
  Request asks = Authorised("/health");
  CHECK(fixture.Ask(*app, asks).bytes == MakeResponse(Health::kHealthy, BodyMode::kWithBody).bytes);
}

TEST_CASE("a drain that spans a reload is logged when it starts and when it ends, once each") {
  ProbeFixture fixture;
  auto before = fixture.Load(kProbes);
  testing::WriteFile(fixture.dir().file("drain"), "");
  CHECK(fixture.Ask(*before, At("/health/ready")).status_code == 404);
  auto after = fixture.Load(kProbes);  // The reload: a new App, a new switch.
  after->drain->ContinueFrom(*before->drain);
  CHECK(fixture.Ask(*after, At("/health/ready")).status_code == 404);
  REQUIRE(unlink(fixture.dir().file("drain").c_str()) == 0);
  CHECK(fixture.Ask(*after, At("/health/ready")).status_code == 200);
  REQUIRE(fixture.log().lines.size() == 2);
  CHECK(fixture.log().lines[0].rfind("healthcheck: draining: ", 0) == 0);
  CHECK(fixture.log().lines[1].rfind("healthcheck: drain over: ", 0) == 0);
  // Another file is another switch: nothing to take over.
  auto elsewhere = fixture.Load(R"({"drains": true, "drain_file": "other"})");
  elsewhere->drain->ContinueFrom(*after->drain);
  CHECK(fixture.Ask(*elsewhere, At("/health")).status_code == 200);
  CHECK(fixture.log().lines.size() == 2);
}

// The configuration keys of probes, the drain switch and the detailed report:
// what they read into, and the file:line:key message for each mistake.
#include <doctest/doctest.h>

#include "../../src/config.h"
#include "test_support.h"

using namespace healthcheck;

namespace {
const std::string kFile = "/etc/hc/healthcheck.json";

std::string ErrorOf(const std::string& text) {
  Result<Config> config = ParseConfig(text, kFile);
  REQUIRE_FALSE(config.ok());
  return config.status().message();
}
}  // namespace

TEST_CASE("probes read in the file's order, each with its own check settings") {
  Result<Config> config = ParseConfig(R"({
    "cursor_backend": {"database": "app.db"},
    "probes": {
      "ready": {"services": ["cursor_backend"], "drains": true, "timeout_ms": 800,
                "callable": {"sql": "SELECT 1"}},
      "live": {"services": ["memory_backend"]},
      "startup": {}
    },
    "drain_file": "drain"})", kFile);
  REQUIRE_MESSAGE(config.ok(), config.status().message());
  REQUIRE(config->probes.size() == 3);
  CHECK(config->probes[0].name == "ready");
  CHECK(config->probes[0].check.services == std::vector<std::string>{"cursor_backend"});
  CHECK(config->probes[0].check.drains);
  CHECK(config->probes[0].check.timeout_ms == 800);
  CHECK(config->probes[0].check.callable.sql == "SELECT 1");
  CHECK(config->probes[1].name == "live");
  CHECK_FALSE(config->probes[1].check.drains);
  CHECK(config->probes[1].check.timeout_ms == kDefaultRequestTimeoutMs);
  CHECK(config->probes[2].check.services.empty());
  CHECK(config->drain_file == "/etc/hc/drain");
  CHECK(config->drain_status == 500);  // The failure status, unless set.
  CHECK(config->check.services.empty());
}

TEST_CASE("a probe's mistakes name the probe's key and line") {
  CHECK(ErrorOf("{\"probes\": {\n\"ready\": {\"servces\": []}}}") ==
        kFile + ":2: \"probes.ready.servces\": unknown key (expected one of \"cache\", \"callable\", \"drains\", "
                "\"services\", \"timeout_ms\")");
  CHECK(ErrorOf("{\"probes\": {\"ready\": {\n\"services\": [\"redis\"]}}}") ==
        kFile + ":2: \"probes.ready.services\": unknown service \"redis\" (known: \"memory_backend\", "
                "\"cursor_backend\")");
  CHECK(ErrorOf("{\"probes\": {\"ready\": {\"timeout_ms\": 0}}}") ==
        kFile + ":1: \"probes.ready.timeout_ms\": expected an integer from 1 to 60000 (milliseconds)");
  CHECK(ErrorOf("{\"probes\": {\"ready\": {\"drains\": \"yes\"}}}") ==
        kFile + ":1: \"probes.ready.drains\": expected true or false");
  CHECK(ErrorOf("{\"probes\": {\"ready\": {\"callable\": {\"sql\": \"SELECT 1\"}}}}") ==
        kFile + ":1: \"probes.ready.callable.sql\": needs \"cursor_backend\": {\"database\": \"...\"}");
  CHECK(ErrorOf("{\"probes\": {\"ready\": {\"services\": [\"cursor_backend\"]}}}") ==
        kFile + ":1: \"probes.ready.services\": \"cursor_backend\" needs \"cursor_backend\": "
                "{\"database\": \"...\"}");
  CHECK(ErrorOf("{\"probes\": {\"ready\": []}}") ==
        kFile + ":1: \"probes.ready\": expected an object like {\"services\": [\"memory_backend\"]}");
  CHECK(ErrorOf("{\"probes\": [\"ready\"]}") ==
        kFile + ":1: \"probes\": expected an object like {\"live\": {...}, \"ready\": {...}}");
  CHECK(ErrorOf("{\"probes\": {\"ready\": {},\n \"ready\": {}}}") ==
        kFile + ":2: \"probes.ready\": appears more than once");
}

TEST_CASE("a probe name is one URL segment of plain characters") {
  const std::string kWhy =
      "a probe name is the last part of its URL: 1 to 64 letters, digits, '-' or '_' (no '/')";
  for (const char* bad : {"health/ready", "/ready", "", "re.dy", "read y", "ready?", "%2F",
                          "r\\u00e9ady"}) {
    CAPTURE(bad);
    std::string error = ErrorOf(std::string("{\"probes\": {\"") + bad + "\": {}}}");
    CHECK(error.find(kWhy) != std::string::npos);
  }
  CHECK(ErrorOf("{\"probes\": {\"" + std::string(65, 'a') + "\": {}}}").find(kWhy) != std::string::npos);
  // An empty name still has a line: its enclosing key's.
  CHECK(ErrorOf("{\n\"probes\": {\"\": {}}}") == kFile + ":2: \"probes.\": " + kWhy);
  CHECK(ParseConfig("{\"probes\": {\"" + std::string(64, 'a') + "\": {}, \"Live-2_x\": {}}}", kFile).ok());
}

TEST_CASE("the drain switch and the checks it drains come together") {
  CHECK(ErrorOf("{\"probes\": {\"ready\": {\"drains\": true}}}") ==
        kFile + ":1: \"probes.ready.drains\": needs \"drain_file\": the file whose presence drains");
  CHECK(ErrorOf("{\"drains\": true}") ==
        kFile + ":1: \"drains\": needs \"drain_file\": the file whose presence drains");
  CHECK(ErrorOf("{\"drain_file\": \"drain\"}") ==
        kFile + ":1: \"drain_file\": no check has \"drains\": true, so the file would drain nothing");
  CHECK(ErrorOf("{\"drain_file\": \"\", \"drains\": true}") ==
        kFile + ":1: \"drain_file\": expected a file path");
  for (const char* bad : {"200", "502", "\"404\"", "404.0"}) {
    CAPTURE(bad);
    CHECK(ErrorOf(std::string("{\"drains\": true, \"drain_file\": \"d\",\n\"drain_status\": ") + bad + "}") ==
          kFile + ":2: \"drain_status\": expected 404 (for HAProxy's disable-on-404), 500 or 503");
  }
  Result<Config> config =
      ParseConfig("{\"drains\": true, \"drain_file\": \"/run/d\", \"failure_status\": 503}", kFile);
  REQUIRE(config.ok());
  CHECK(config->drain_status == 503);
  CHECK(config->check.drains);
  config = ParseConfig("{\"drains\": true, \"drain_file\": \"/run/d\", \"drain_status\": 404}", kFile);
  REQUIRE(config.ok());
  CHECK(config->drain_status == 404);
  CHECK(config->failure_status == 500);
}

TEST_CASE("details: trusted networks parse, malformed ones are named") {
  Result<Config> config = ParseConfig(
      R"({"details": {"trusted_addresses": ["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"]}})", kFile);
  REQUIRE_MESSAGE(config.ok(), config.status().message());
  CHECK(config->details->trusted_addresses.size() == 4);
  CHECK(config->details->token.empty());
  CHECK(ErrorOf("{\"details\": {\n\"trusted_addresses\": [\"10.0.0.0/8\", \"10.0.0.1/8\"]}}") ==
        kFile + ":2: \"details.trusted_addresses\": item 2 \"10.0.0.1/8\" is not an address or a network "
                "like 10.0.0.0/8 or fd00::/8 (with no bits set past the prefix)");
  CHECK(ErrorOf("{\"details\": {\"trusted_addresses\": [\"10.0.0.1\\u0000x\"]}}") ==
        kFile + ":1: \"details.trusted_addresses\": item 1 must not contain a NUL character");
  CHECK(ErrorOf("{\"details\": {\"trusted_addresses\": [8]}}").find("item 1 is not an address") !=
        std::string::npos);
  CHECK(ErrorOf("{\"details\": {\"trusted_addresses\": \"10.0.0.0/8\"}}") ==
        kFile + ":1: \"details.trusted_addresses\": expected a list like [\"127.0.0.1/32\", \"::1\"]");
  CHECK(ErrorOf("{\"details\": {\"trusted_addresses\": []}}") ==
        kFile + ":1: \"details\": authorises nobody: give a \"token_file\" or \"trusted_addresses\"");
  CHECK(ErrorOf("{\"details\": {}}").find("\"details\": expected an object like") != std::string::npos);
  CHECK(ErrorOf("{\"details\": {\"token\": \"x\"}}") ==
        kFile + ":1: \"details.token\": unknown key (expected one of \"token_file\", \"trusted_addresses\")");
}

namespace {
// Loads a configuration whose details token file holds `token` with `mode`.
Result<Config> LoadWithToken(const testing::TempDir& dir, const std::string& token, mode_t mode) {
  testing::WriteFile(dir.file("token"), token);
  REQUIRE(chmod(dir.file("token").c_str(), mode) == 0);
  testing::WriteFile(dir.file("healthcheck.json"), "{\n\"details\": {\n\"token_file\": \"token\"}}");
  return LoadConfig(dir.file("healthcheck.json"));
}
}  // namespace

TEST_CASE("LoadConfig reads the token file, without the newline echo leaves") {
  testing::TempDir dir;
  Result<Config> config = LoadWithToken(dir, "abcdefghijklmnop0123\n", 0600);
  REQUIRE_MESSAGE(config.ok(), config.status().message());
  CHECK(config->details->token == "abcdefghijklmnop0123");
  CHECK(config->details->token_file == dir.file("token"));
  config = LoadWithToken(dir, "abcdefghijklmnop0123\r\n", 0640);
  REQUIRE(config.ok());
  CHECK(config->details->token == "abcdefghijklmnop0123");
}

TEST_CASE("LoadConfig refuses a token file others may read, and a missing, empty or weak one") {
  testing::TempDir dir;
  std::string where = dir.file("healthcheck.json") + ":3: \"details.token_file\": " + dir.file("token") + ": ";
  for (mode_t mode : {0644, 0604, 0660, 0622}) {
    char octal[16];
    snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    CAPTURE(octal);
    Result<Config> config = LoadWithToken(dir, "abcdefghijklmnop0123", mode);
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().message() ==
          where + "readable or writable by others (mode " + octal +
              "), so anyone on the machine could read the token; chmod 0600 " + dir.file("token"));
  }
  Result<Config> empty = LoadWithToken(dir, "\n", 0600);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().message() ==
        where + "empty: it must hold the token callers send as \"Authorization: Bearer TOKEN\"");
  Result<Config> weak = LoadWithToken(dir, "short", 0600);
  REQUIRE_FALSE(weak.ok());
  CHECK(weak.status().message() == where + "the token is shorter than 16 characters; make one with: "
                                           "head -c 32 /dev/urandom | base64");
  Result<Config> spaced = LoadWithToken(dir, "abcdefgh ijklmnop0123", 0600);
  REQUIRE_FALSE(spaced.ok());
  CHECK(spaced.status().message().find("holds a space") != std::string::npos);
  REQUIRE(unlink(dir.file("token").c_str()) == 0);
  Result<Config> missing = LoadConfig(dir.file("healthcheck.json"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message() == where + "cannot read the token: No such file or directory");
  REQUIRE(mkdir(dir.file("token").c_str(), 0700) == 0);
  Result<Config> folder = LoadConfig(dir.file("healthcheck.json"));
  REQUIRE_FALSE(folder.ok());
  CHECK(folder.status().message() == where + "cannot read the token: not a regular file");
}

TEST_CASE("the start-up summary lists each probe, the drain file and who sees details") {
  Result<Config> config = ParseConfig(R"({"services": ["memory_backend"],
      "probes": {"live": {}, "ready": {"services": ["memory_backend"], "drains": true}},
      "drain_file": "/run/drain", "drain_status": 404,
      "details": {"token_file": "t", "trusted_addresses": ["::1"]}})", kFile);
  REQUIRE(config.ok());
  CHECK(SummarizeChecks(config.value()) ==
        "memory_backend; probe live: none (only the program itself); probe ready: memory_backend; "
        "drains; drain file /run/drain (answers 404); details for token holders and 1 trusted network");
}

TEST_CASE("cache: per check, the top level's for probes without one, and a folder to share in") {
  Result<Config> config = ParseConfig(R"({"cache": {"success_ms": 1000, "failure_ms": 200},
      "cache_folder": "/run/healthcheck",
      "probes": {"live": {"cache": {"success_ms": 50}}, "ready": {}}})", kFile);
  REQUIRE(config.ok());
  CHECK(config->cache_folder == "/run/healthcheck");
  CHECK(config->check.cache->success_ms == 1000);
  CHECK(config->check.cache->failure_ms == 200);
  CHECK(config->probes[0].check.cache->success_ms == 50);
  CHECK(config->probes[0].check.cache->failure_ms == 0);
  CHECK(config->probes[1].check.cache->success_ms == 1000);
  CHECK(ErrorOf(R"({"cache": {"success_ms": 1000}})") ==
        kFile + ":1: \"cache\": needs \"cache_folder\": a folder the responder's user may write, "
                "where every process on the machine shares the results (/run/healthcheck-shared under "
                "the shipped service's RuntimeDirectory=; for CGI, a folder of the account's own)");
  CHECK(ErrorOf(R"({"cache_folder": "c"})") ==
        kFile + ":1: \"cache_folder\": no check has a \"cache\", and without \"details\" no one may "
                "read the metrics counted there");
  CHECK(ErrorOf(R"({"cache": {"success": 1}, "cache_folder": "c"})") ==
        kFile + ":1: \"cache.success\": unknown key (expected one of \"failure_ms\", \"success_ms\")");
  CHECK(ErrorOf(R"({"probes": {"ready": {"cache": {"failure_ms": -1}}}, "cache_folder": "c"})") ==
        kFile + ":1: \"probes.ready.cache.failure_ms\": expected an integer from 0 to 60000 (milliseconds)");
}

TEST_CASE("metrics: counted with details and a cache_folder, and no probe may take their name") {
  Result<Config> counted = ParseConfig(R"({"cache_folder": "/run/healthcheck",
      "details": {"trusted_addresses": ["127.0.0.1"]}})", kFile);
  REQUIRE(counted.ok());
  CHECK(counted->metrics());
  CHECK(SummarizeChecks(counted.value()) ==
        "none (only the program itself); details for 1 trusted network, and metrics at /metrics");
  Result<Config> no_folder = ParseConfig(R"({"details": {"trusted_addresses": ["127.0.0.1"]}})", kFile);
  REQUIRE(no_folder.ok());
  CHECK_FALSE(no_folder->metrics());
  Result<Config> no_details =
      ParseConfig(R"({"cache": {"success_ms": 100}, "cache_folder": "/run/healthcheck"})", kFile);
  REQUIRE(no_details.ok());
  CHECK_FALSE(no_details->metrics());
  CHECK(ErrorOf(R"({"probes": {"metrics": {}}})") ==
        kFile + ":1: \"probes.metrics\": \"metrics\" is reserved: with \"details\" and \"cache_folder\", "
                "a path ending in /metrics answers the machine's metrics to authorised callers");
}

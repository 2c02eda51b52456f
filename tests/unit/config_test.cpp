// ParseConfig and LoadConfig: defaults, paths, and every error message whole.
#include "../../src/config.h"

#include <doctest/doctest.h>

#include <glob.h>

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

TEST_CASE("an empty object is a valid configuration with the defaults") {
  Result<Config> config = ParseConfig("{}", kFile);
  REQUIRE(config.ok());
  CHECK(config->services.empty());
  CHECK(config->callable.kind == CallableSettings::Kind::kNone);
  CHECK_FALSE(config->cursor_backend.has_value());
  CHECK(config->request_timeout_ms == 2000);
  CHECK(config->source == kFile);
}

TEST_CASE("the full example parses, with the database beside the config file") {
  Result<Config> config = ParseConfig(R"({
    "services": ["memory_backend", "cursor_backend"],
    "callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"},
    "cursor_backend": {"database": "app.db", "timeout_ms": 250},
    "timeout_ms": 1500})",
                                      kFile);
  REQUIRE(config.ok());
  CHECK(config->services == std::vector<std::string>{"memory_backend", "cursor_backend"});
  CHECK(config->callable.kind == CallableSettings::Kind::kSql);
  CHECK(config->callable.sql == "SELECT count(*) = 0 FROM failed_jobs");
  REQUIRE(config->cursor_backend.has_value());
  CHECK(config->cursor_backend->database == "/etc/hc/app.db");
  CHECK(config->cursor_backend->busy_timeout_ms == 250);
  CHECK(config->request_timeout_ms == 1500);
}

TEST_CASE("absolute paths stay; a command's program is found like the database") {
  Result<Config> config = ParseConfig(
      R"({"cursor_backend": {"database": "/srv/app.db"}, "callable": {"command": ["bin/check", "-q"]}})",
      kFile);
  REQUIRE(config.ok());
  CHECK(config->cursor_backend->database == "/srv/app.db");
  CHECK(config->callable.kind == CallableSettings::Kind::kCommand);
  CHECK(config->callable.command == std::vector<std::string>{"/etc/hc/bin/check", "-q"});
  CHECK(config->cursor_backend->busy_timeout_ms == 1000);
}

TEST_CASE("a file name without a folder resolves against the working folder") {
  Result<Config> config = ParseConfig(R"({"cursor_backend": {"database": "app.db"}})", "hc.json");
  REQUIRE(config.ok());
  CHECK(config->cursor_backend->database == "./app.db");
}

TEST_CASE("errors name the file, the line and the key") {
  CHECK(ErrorOf("{\n  \"services\": \"memory_backend\"\n}") ==
        kFile + ":2: \"services\": expected a list of names");
  CHECK(ErrorOf("{\"services\": [\"memory_backend\", 3]}") ==
        kFile + ":1: \"services\": expected a list of names, item 2 is not a string");
  CHECK(ErrorOf("{\n\n \"services\": [\"redis\"]}") ==
        kFile + ":3: \"services\": unknown service \"redis\" (known: \"memory_backend\", "
                "\"cursor_backend\")");
  CHECK(ErrorOf("{\"servcies\": []}") ==
        kFile + ":1: \"servcies\": unknown key (expected one of \"callable\", "
                "\"cursor_backend\", \"services\", \"timeout_ms\")");
  CHECK(ErrorOf("{\"services\": [], \"services\": []}") ==
        kFile + ":1: \"services\": appears more than once");
}

TEST_CASE("callable errors") {
  const std::string kExpected =
      "expected {\"sql\": \"SELECT ...\"} or {\"command\": [\"/path/to/program\", ...]}";
  CHECK(ErrorOf("{\"callable\": \"SELECT 1\"}") == kFile + ":1: \"callable\": " + kExpected);
  CHECK(ErrorOf("{\"callable\": {}}") == kFile + ":1: \"callable\": " + kExpected);
  CHECK(ErrorOf("{\"callable\": {\"sql\": \"x\", \"command\": [\"/bin/true\"]}}") ==
        kFile + ":1: \"callable\": " + kExpected);
  CHECK(ErrorOf("{\"callable\": {\"shell\": \"true\"}}") ==
        kFile + ":1: \"callable.shell\": unknown key (expected one of \"command\", \"sql\")");
  CHECK(ErrorOf("{\"callable\": {\"command\": []}}") ==
        kFile + ":1: \"callable.command\": expected a non-empty list of strings (program, arguments)");
  CHECK(ErrorOf("{\"callable\": {\"command\": [\"/bin/true\", 1]}}") ==
        kFile + ":1: \"callable.command\": expected a non-empty list of strings (program, arguments)");
  CHECK(ErrorOf("{\"callable\": {\"sql\": \"\"}, \"cursor_backend\": {\"database\": \"a\"}}") ==
        kFile + ":1: \"callable.sql\": expected a non-empty SQL query");
  CHECK(ErrorOf("{\"callable\": {\"sql\": \"SELECT 1\"}}") ==
        kFile + ":1: \"callable.sql\": needs \"cursor_backend\": {\"database\": \"...\"}");
}

TEST_CASE("cursor_backend errors") {
  CHECK(ErrorOf("{\"services\": [\"cursor_backend\"]}") ==
        kFile + ":1: \"services\": \"cursor_backend\" needs \"cursor_backend\": {\"database\": \"...\"}");
  CHECK(ErrorOf("{\"cursor_backend\": \"app.db\"}") ==
        kFile + ":1: \"cursor_backend\": expected an object like {\"database\": \"app.db\"}");
  CHECK(ErrorOf("{\"cursor_backend\": {}}") ==
        kFile + ":1: \"cursor_backend\": missing \"database\" (the SQLite file to check)");
  CHECK(ErrorOf("{\"cursor_backend\": {\"database\": 5}}") ==
        kFile + ":1: \"cursor_backend.database\": expected a file path");
  CHECK(ErrorOf("{\"cursor_backend\": {\"database\": \"a\\u0000b\"}}") ==
        kFile + ":1: \"cursor_backend.database\": must not contain a NUL character");
  CHECK(ErrorOf("{\"cursor_backend\": {\"database\": \"a\", \"timeout_ms\": -1}}") ==
        kFile + ":1: \"cursor_backend.timeout_ms\": expected an integer from 0 to 60000 (milliseconds)");
  CHECK(ErrorOf("{\"cursor_backend\": {\"database\": \"a\", \"timeout\": 5}}") ==
        kFile + ":1: \"cursor_backend.timeout\": unknown key (expected one of \"database\", \"timeout_ms\")");
}

TEST_CASE("timeout_ms must be a whole number of milliseconds in range") {
  const std::string kExpected =
      ":1: \"timeout_ms\": expected an integer from 1 to 60000 (milliseconds)";
  CHECK(ErrorOf("{\"timeout_ms\": 0}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": 60001}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": 1.5}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": \"2000\"}") == kFile + kExpected);
  CHECK(ParseConfig("{\"timeout_ms\": 60000}", kFile).ok());
}

TEST_CASE("invalid JSON names the line of the fault") {
  CHECK(ErrorOf("") == kFile + ":1: invalid JSON: The document is empty.");
  CHECK(ErrorOf("{\n\"services\": [\n") == kFile + ":3: invalid JSON: Invalid value.");
  CHECK(ErrorOf("{} trailing") ==
        kFile + ":1: invalid JSON: The document root must not be followed by other values.");
  CHECK(ErrorOf("[]") == kFile + ":1: expected a JSON object at the top level");
  CHECK(ErrorOf(std::string("{}\0", 3)) == kFile + ":1: invalid JSON: a NUL byte in the file");
  CHECK(ErrorOf(std::string(100000, '[')) ==
        kFile + ":1: invalid JSON: nested deeper than 32 levels");
}

TEST_CASE("LoadConfig reads a file and names it in its errors") {
  testing::TempDir dir;
  std::string path = dir.file("healthcheck.json");
  testing::WriteFile(path, R"({"cursor_backend": {"database": "app.db"}})");
  Result<Config> config = LoadConfig(path);
  REQUIRE(config.ok());
  CHECK(config->cursor_backend->database == dir.file("app.db"));

  Result<Config> missing = LoadConfig(dir.file("nope.json"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message() ==
        dir.file("nope.json") + ": cannot read the configuration: No such file or directory");
  Result<Config> folder = LoadConfig(dir.path());
  REQUIRE_FALSE(folder.ok());
  CHECK(folder.status().message() == dir.path() + ": cannot read the configuration: Is a directory");
}

TEST_CASE("every example in conf/ parses") {
  std::string conf = std::string(HEALTHCHECK_SOURCE_DIR) + "/conf";
  int parsed = 0;
  std::string listing = conf + "/*.json";
  glob_t found{};
  if (glob(listing.c_str(), 0, nullptr, &found) == 0) {
    for (size_t i = 0; i < found.gl_pathc; ++i) {
      Result<Config> config = LoadConfig(found.gl_pathv[i]);
      CAPTURE(found.gl_pathv[i]);
      CHECK_MESSAGE(config.ok(), config.status().message());
      ++parsed;
    }
  }
  globfree(&found);
  CHECK(parsed >= 3);  // Memory only, SQLite cursor, sql callable.
}

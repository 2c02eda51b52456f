// ParseConfig and LoadConfig: defaults, paths, and every error message whole.
#include "../../src/config.h"

#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include "test_support.h"

using namespace healthcheck;

namespace {
const std::string kFile = "/etc/hc/healthcheck.json";
const std::string kTopLevelKeys =
    "\"cache\", \"cache_folder\", \"callable\", \"cursor_backend\", \"details\", \"drain_file\", "
    "\"drain_status\", \"drains\", \"failure_status\", \"probes\", \"services\", \"timeout_ms\"";

std::string ErrorOf(const std::string& text) {
  Result<Config> config = ParseConfig(text, kFile);
  REQUIRE_FALSE(config.ok());
  return config.status().message();
}

// The whole literal, NUL bytes included (std::string(const char*) stops at one).
template <size_t N>
std::string Bytes(const char (&text)[N]) {
  return std::string(text, N - 1);
}
}  // namespace

TEST_CASE("an empty object is a valid configuration with the defaults") {
  Result<Config> config = ParseConfig("{}", kFile);
  REQUIRE(config.ok());
  CHECK(config->check.services.empty());
  CHECK(config->check.callable.kind == CallableSettings::Kind::kNone);
  CHECK_FALSE(config->cursor_backend.has_value());
  CHECK(config->check.timeout_ms == 2000);
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
  CHECK(config->check.services == std::vector<std::string>{"memory_backend", "cursor_backend"});
  CHECK(config->check.callable.kind == CallableSettings::Kind::kSql);
  CHECK(config->check.callable.sql == "SELECT count(*) = 0 FROM failed_jobs");
  REQUIRE(config->cursor_backend.has_value());
  CHECK(config->cursor_backend->database == "/etc/hc/app.db");
  CHECK(config->cursor_backend->busy_timeout_ms == 250);
  CHECK(config->check.timeout_ms == 1500);
}

TEST_CASE("absolute paths stay; a command's program is found like the database") {
  Result<Config> config = ParseConfig(
      R"({"cursor_backend": {"database": "/srv/app.db"}, "callable": {"command": ["bin/check", "-q"]}})",
      kFile);
  REQUIRE(config.ok());
  CHECK(config->cursor_backend->database == "/srv/app.db");
  CHECK(config->check.callable.kind == CallableSettings::Kind::kCommand);
  CHECK(config->check.callable.command == std::vector<std::string>{"/etc/hc/bin/check", "-q"});
  CHECK(config->cursor_backend->busy_timeout_ms == 1000);
}

TEST_CASE("a file name without a folder resolves against the working folder") {
  Result<Config> config = ParseConfig(R"({"cursor_backend": {"database": "app.db"}})", "hc.json");
  REQUIRE(config.ok());
  CHECK(config->cursor_backend->database == "./app.db");
}

TEST_CASE("relative paths resolve against the config file's folder, as written") {
  auto database = [](const std::string& path, const std::string& filename) {
    Result<Config> config =
        ParseConfig("{\"cursor_backend\": {\"database\": \"" + path + "\"}}", filename);
    REQUIRE_MESSAGE(config.ok(), config.status().message());
    return config->cursor_backend->database;
  };
  CHECK(database("sub/app.db", kFile) == "/etc/hc/sub/app.db");
  CHECK(database("../app.db", kFile) == "/etc/hc/../app.db");
  CHECK(database("app.db", "/hc.json") == "/app.db");
  CHECK(database("app.db", "conf/hc.json") == "conf/app.db");
  CHECK(database("/var/lib/app.db", "conf/hc.json") == "/var/lib/app.db");
}

TEST_CASE("a cursor_backend with no service or callable using it is still accepted") {
  Result<Config> config = ParseConfig(R"({"cursor_backend": {"database": "a", "timeout_ms": 0}})", kFile);
  REQUIRE(config.ok());
  CHECK(config->check.services.empty());
  CHECK(config->cursor_backend->busy_timeout_ms == 0);
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
        kFile + ":1: \"servcies\": unknown key (expected one of " + kTopLevelKeys + ")");
  CHECK(ErrorOf("{\"services\": [], \"services\": []}") ==
        kFile + ":1: \"services\": appears more than once");
}

TEST_CASE("a repeated key is reported at the line where it repeats") {
  CHECK(ErrorOf("{\n\"services\": [],\n\"services\": []}") ==
        kFile + ":3: \"services\": appears more than once");
  CHECK(ErrorOf("{\"cursor_backend\": {\"database\": \"a\",\n \"database\": \"b\"}}") ==
        kFile + ":2: \"cursor_backend.database\": appears more than once");
  CHECK(ErrorOf("{\"callable\": {\"sql\": \"SELECT 1\", \"sql\": \"SELECT 2\"}}") ==
        kFile + ":1: \"callable\": expected {\"sql\": \"SELECT ...\"} or "
                "{\"command\": [\"/path/to/program\", ...]}");
}

TEST_CASE("unknown keys are named at any level, with the keys that are allowed") {
  CHECK(ErrorOf("{\"services\": [],\n\n \"bogus\": 1}") ==
        kFile + ":3: \"bogus\": unknown key (expected one of " + kTopLevelKeys + ")");
  CHECK(ErrorOf("{\"Services\": []}") ==
        kFile + ":1: \"Services\": unknown key (expected one of " + kTopLevelKeys + ")");
  CHECK(ErrorOf("{\"cursor_backend\": {\"database\": \"a\",\n\"path\": \"b\"}}") ==
        kFile + ":2: \"cursor_backend.path\": unknown key (expected one of \"database\", "
                "\"driver\", \"timeout_ms\")");
}

TEST_CASE("values of the wrong type are refused with the key's expectation") {
  const std::string kServices = ":1: \"services\": expected a list of names";
  for (const char* value : {"null", "{}", "1", "true", "\"memory_backend\""}) {
    CAPTURE(value);
    CHECK(ErrorOf(std::string("{\"services\": ") + value + "}") == kFile + kServices);
  }
  CHECK(ErrorOf("{\"services\": [null]}") ==
        kFile + ":1: \"services\": expected a list of names, item 1 is not a string");
  const std::string kCallable =
      ":1: \"callable\": expected {\"sql\": \"SELECT ...\"} or {\"command\": [\"/path/to/program\", ...]}";
  for (const char* value : {"null", "[]", "1", "[\"/bin/true\"]"}) {
    CAPTURE(value);
    CHECK(ErrorOf(std::string("{\"callable\": ") + value + "}") == kFile + kCallable);
  }
  const std::string kCommand =
      ":1: \"callable.command\": expected a non-empty list of strings (program, arguments)";
  for (const char* value : {"\"/bin/true\"", "null", "[\"\"]", "[[\"/bin/true\"]]"}) {
    CAPTURE(value);
    CHECK(ErrorOf(std::string("{\"callable\": {\"command\": ") + value + "}}") == kFile + kCommand);
  }
  CHECK(ErrorOf("{\"callable\": {\"sql\": 5}}") ==
        kFile + ":1: \"callable.sql\": expected a non-empty SQL query");
  const std::string kCursor =
      ":1: \"cursor_backend\": expected an object like {\"database\": \"app.db\"}";
  for (const char* value : {"null", "[]", "\"app.db\""}) {
    CAPTURE(value);
    CHECK(ErrorOf(std::string("{\"cursor_backend\": ") + value + "}") == kFile + kCursor);
  }
  CHECK(ErrorOf("{\"cursor_backend\": {\"database\": \"\"}}") ==
        kFile + ":1: \"cursor_backend.database\": expected a file path");
  CHECK(ErrorOf("{\"cursor_backend\": {\"database\": [\"a\"]}}") ==
        kFile + ":1: \"cursor_backend.database\": expected a file path");
}

TEST_CASE("a NUL character inside a string value is refused") {
  CHECK(ErrorOf("{\"callable\": {\"command\": [\"/bin/check\", \"a\\u0000b\"]}}") ==
        kFile + ":1: \"callable.command\": must not contain a NUL character");
  CHECK(ErrorOf("{\"callable\": {\"sql\": \"SELECT 1\\u0000; DELETE\"}, "
                "\"cursor_backend\": {\"database\": \"a\"}}") ==
        kFile + ":1: \"callable.sql\": must not contain a NUL character");
}

TEST_CASE("a raw NUL byte anywhere in the file is named as such, at its line") {
  CHECK(ErrorOf(Bytes("{\"services\": [\"memory\0backend\"]}")) ==
        kFile + ":1: invalid JSON: a NUL byte in the file");
  CHECK(ErrorOf(Bytes("{\n\n\"a\0\": 1}")) == kFile + ":3: invalid JSON: a NUL byte in the file");
  CHECK(ErrorOf(Bytes("{}\n\0")) == kFile + ":2: invalid JSON: a NUL byte in the file");
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
        kFile + ":1: \"cursor_backend.timeout\": unknown key (expected one of \"database\", \"driver\", \"timeout_ms\")");
}

TEST_CASE("timeout_ms must be a whole number of milliseconds in range") {
  const std::string kExpected =
      ":1: \"timeout_ms\": expected an integer from 1 to 60000 (milliseconds)";
  CHECK(ErrorOf("{\"timeout_ms\": 0}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": 60001}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": 1.5}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": \"2000\"}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": -5}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": 1e3}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": null}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": true}") == kFile + kExpected);
  CHECK(ErrorOf("{\"timeout_ms\": 9223372036854775808}") == kFile + kExpected);
  CHECK(ParseConfig("{\"timeout_ms\": 60000}", kFile)->check.timeout_ms == 60000);
  CHECK(ParseConfig("{\"timeout_ms\": 1}", kFile)->check.timeout_ms == 1);
}

TEST_CASE("cursor_backend.timeout_ms allows 0 to 60000 whole milliseconds") {
  const std::string kExpected =
      "\"cursor_backend.timeout_ms\": expected an integer from 0 to 60000 (milliseconds)";
  auto with = [](const std::string& timeout) {
    return "{\"cursor_backend\": {\"database\": \"a\",\n \"timeout_ms\": " + timeout + "}}";
  };
  CHECK(ErrorOf(with("60001")) == kFile + ":2: " + kExpected);
  CHECK(ErrorOf(with("0.5")) == kFile + ":2: " + kExpected);
  CHECK(ErrorOf(with("\"5\"")) == kFile + ":2: " + kExpected);
  CHECK(ErrorOf(with("null")) == kFile + ":2: " + kExpected);
  CHECK(ParseConfig(with("0"), kFile)->cursor_backend->busy_timeout_ms == 0);
  CHECK(ParseConfig(with("60000"), kFile)->cursor_backend->busy_timeout_ms == 60000);
}

TEST_CASE("a sql callable or the cursor_backend service without a database is refused") {
  CHECK(ErrorOf("{\"services\": [\"memory_backend\",\n \"cursor_backend\"]}") ==
        kFile + ":1: \"services\": \"cursor_backend\" needs \"cursor_backend\": {\"database\": \"...\"}");
  CHECK(ErrorOf("{\"services\": [],\n \"callable\": {\n \"sql\": \"SELECT 1\"}}") ==
        kFile + ":3: \"callable.sql\": needs \"cursor_backend\": {\"database\": \"...\"}");
  // A command needs no database.
  CHECK(ParseConfig("{\"callable\": {\"command\": [\"/bin/true\"]}}", kFile).ok());
}

TEST_CASE("invalid JSON names the line of the fault") {
  CHECK(ErrorOf("") == kFile + ":1: invalid JSON: The document is empty.");
  CHECK(ErrorOf("{\n\"services\": [\n") == kFile + ":3: invalid JSON: Invalid value.");
  CHECK(ErrorOf("{} trailing") ==
        kFile + ":1: invalid JSON: The document root must not be followed by other values.");
  CHECK(ErrorOf("{\n  \"services\": [\"memory_backend\",],\n}") ==
        kFile + ":2: invalid JSON: a comma before ']'; JSON allows no trailing comma");
  CHECK(ErrorOf("{\n\"services\": [\"memory_backend\"]\n\"timeout_ms\": 5}") ==
        kFile + ":3: invalid JSON: Missing a comma or '}' after an object member.");
  CHECK(ErrorOf("[]") == kFile + ":1: expected a JSON object at the top level");
  CHECK(ErrorOf("null") == kFile + ":1: expected a JSON object at the top level");
  CHECK(ErrorOf("\"{}\"") == kFile + ":1: expected a JSON object at the top level");
  CHECK(ErrorOf(std::string("{}\0", 3)) == kFile + ":1: invalid JSON: a NUL byte in the file");
  CHECK(ErrorOf(std::string(100000, '[')) ==
        kFile + ":1: invalid JSON: nested deeper than 32 levels");
}

TEST_CASE("failure_status is 500, as clearskies, or 503") {
  CHECK(ParseConfig("{}", kFile).value().failure_status == 500);
  CHECK(ParseConfig("{\"failure_status\": 503}", kFile).value().failure_status == 503);
  CHECK(ParseConfig("{\"failure_status\": 500}", kFile).value().failure_status == 500);
  for (const char* bad : {"404", "200", "\"503\"", "503.0", "null", "true"}) {
    CHECK(ErrorOf(std::string("{\n\"failure_status\": ") + bad + "}") ==
          kFile + ":2: \"failure_status\": expected 500 (as clearskies) or 503");
  }
}

TEST_CASE("the common hand-written JSON mistakes are named, on the line of the mistake") {
  // The parser stops at the '}' on line 3; the comma is on line 2.
  CHECK(ErrorOf("{\n  \"services\": [\"memory_backend\"],\n\n}") ==
        kFile + ":2: invalid JSON: a comma before '}'; JSON allows no trailing comma");
  CHECK(ErrorOf("{\n  // the checks\n  \"services\": []\n}") ==
        kFile + ":2: invalid JSON: a comment; JSON has none, remove it");
  CHECK(ErrorOf("{\"services\": [] /* none */}") ==
        kFile + ":1: invalid JSON: a comment; JSON has none, remove it");
  CHECK(ErrorOf("\xEF\xBB\xBF{\"services\": []}") ==
        kFile + ":1: invalid JSON: the file starts with a UTF-8 byte-order mark; save it as UTF-8 "
                "without one");
  CHECK(ErrorOf("{\n'services': []}") ==
        kFile + ":2: invalid JSON: a single quote; JSON strings take double quotes");
  // An unclosed array before '}' is not a trailing comma; a quote after a
  // value is a missing comma.
  CHECK(ErrorOf("{\"services\": [\"a\", }") == kFile + ":1: invalid JSON: Invalid value.");
  CHECK(ErrorOf("{\"timeout_ms\": 100 'x'}") ==
        kFile + ":1: invalid JSON: Missing a comma or '}' after an object member.");
  CHECK(ErrorOf("{\"callable\": {\"sql\": \"SELECT '[,'\",}}") ==
        kFile + ":1: invalid JSON: a comma before '}'; JSON allows no trailing comma");
  // A comma inside a string is not a trailing comma.
  CHECK(ErrorOf("{\"services\": [\"a,\"}") ==
        kFile + ":1: invalid JSON: Missing a comma or ']' after an array element.");
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
  CHECK(folder.status().message() ==
        dir.path() + ": cannot read the configuration: not a regular file");
}

TEST_CASE("LoadConfig refuses a FIFO at once, without waiting for a writer") {
  testing::TempDir dir;
  std::string path = dir.file("healthcheck.json");
  REQUIRE(mkfifo(path.c_str(), 0600) == 0);
  std::future<Result<Config>> loading =
      std::async(std::launch::async, [&path] { return LoadConfig(path); });
  bool returned = loading.wait_for(std::chrono::seconds(1)) == std::future_status::ready;
  if (!returned) {
    // Blocked in open(2) for a writer: be that writer, so the test can end.
    int writer = open(path.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) close(writer);
  }
  CHECK_MESSAGE(returned, "LoadConfig waited on the FIFO");
  Result<Config> config = loading.get();
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().message() == path + ": cannot read the configuration: not a regular file");
}

TEST_CASE("LoadConfig refuses a file group or others may write, and reads one only its owner may") {
  testing::TempDir dir;
  std::string path = dir.file("healthcheck.json");
  testing::WriteFile(path, R"({"services": ["memory_backend"]})");
  for (mode_t mode : {0664, 0606, 0620, 0602, 0777}) {
    char octal[8];
    snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    CAPTURE(octal);
    REQUIRE(chmod(path.c_str(), mode) == 0);
    Result<Config> config = LoadConfig(path);
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().message() ==
          path + ": cannot use the configuration: writable by group or others (mode " + octal +
              "), so they could choose what the check runs; chmod go-w " + path);
  }
  for (mode_t mode : {0644, 0600, 0400, 0640}) {
    CAPTURE(mode);
    REQUIRE(chmod(path.c_str(), mode) == 0);
    Result<Config> config = LoadConfig(path);
    REQUIRE_MESSAGE(config.ok(), config.status().message());
    CHECK(config->check.services == std::vector<std::string>{"memory_backend"});
  }
}

TEST_CASE("LoadConfig names the file and line of a mistake in it") {
  testing::TempDir dir;
  std::string path = dir.file("healthcheck.json");
  testing::WriteFile(path, "{\n  \"services\": [\"redis\"]\n}\n");
  Result<Config> config = LoadConfig(path);
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().message() ==
        path + ":2: \"services\": unknown service \"redis\" (known: \"memory_backend\", "
               "\"cursor_backend\")");
}

TEST_CASE("LoadConfig refuses a file larger than 1 MiB") {
  testing::TempDir dir;
  std::string path = dir.file("huge.json");
  testing::WriteFile(path, "{" + std::string((1 << 20) + 1, ' ') + "}");
  Result<Config> config = LoadConfig(path);
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().message() == path + ": cannot read the configuration: larger than 1 MiB");
}

namespace {
// Changes the working folder for one test and restores it, whatever happens.
class WorkingFolder {
 public:
  explicit WorkingFolder(const std::string& path) {
    if (getcwd(saved_, sizeof saved_) == nullptr) throw std::runtime_error("getcwd failed");
    if (chdir(path.c_str()) != 0) throw std::runtime_error("chdir failed: " + path);
  }
  ~WorkingFolder() {
    if (chdir(saved_) != 0) {
      // Nothing better to do in a destructor.
    }
  }
  WorkingFolder(const WorkingFolder&) = delete;
  WorkingFolder& operator=(const WorkingFolder&) = delete;

 private:
  char saved_[PATH_MAX];
};
}  // namespace

TEST_CASE("LoadConfig of a relative path names it from the working folder") {
  testing::TempDir dir;
  char real[PATH_MAX];
  REQUIRE(realpath(dir.path().c_str(), real) != nullptr);
  const std::string folder = real;
  testing::WriteFile(dir.file("hc.json"), R"({"cursor_backend": {"database": "app.db"}})");
  testing::WriteFile(dir.file("bad.json"), "{\"timeout_ms\": 0}");
  WorkingFolder inside(folder);
  Result<Config> config = LoadConfig("hc.json");
  REQUIRE_MESSAGE(config.ok(), config.status().message());
  CHECK(config->source == folder + "/hc.json");
  CHECK(config->cursor_backend->database == folder + "/app.db");
  Result<Config> bad = LoadConfig("bad.json");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() ==
        folder + "/bad.json:1: \"timeout_ms\": expected an integer from 1 to 60000 (milliseconds)");
}

namespace {
// The repository's root: from the build (Makefile) or else from this file's path.
std::string SourceFolder() {
#ifdef HEALTHCHECK_SOURCE_DIR
  return HEALTHCHECK_SOURCE_DIR;
#else
  std::string here = __FILE__;  // .../tests/unit/config_test.cpp
  return here.substr(0, here.rfind("/tests/unit/"));
#endif
}
}  // namespace

// Parsed from their text: whether a checkout left them group-writable (a
// umask of 002) says nothing of the examples themselves.
TEST_CASE("every example in conf/ parses") {
  const std::string conf = SourceFolder() + "/conf";
  struct stat info;
  bool unreachable =
      stat(conf.c_str(), &info) != 0 ? errno == EACCES : access(conf.c_str(), R_OK | X_OK) != 0;
  if (unreachable) {
    std::string why = "skipped: " + conf +
                      " is not readable by this user (a copy of the binary run outside the "
                      "repository as another user)";
    MESSAGE(why);
    return;
  }
  REQUIRE_MESSAGE(testing::Exists(conf), std::string(conf + " is missing"));
  std::string listing = conf + "/*.json";
  glob_t found{};
  int globbed = glob(listing.c_str(), 0, nullptr, &found);
  size_t parsed = 0;
  for (size_t i = 0; globbed == 0 && i < found.gl_pathc; ++i) {
    std::string path = found.gl_pathv[i];
    CAPTURE(path);
    CHECK_MESSAGE(access(path.c_str(), R_OK) == 0, std::string(path + " is not readable"));
    Result<Config> config = ParseConfig(testing::ReadFile(path), path);
    CHECK_MESSAGE(config.ok(), config.status().message());
    ++parsed;
  }
  globfree(&found);
  // An examples folder with no example is a stale one; README shows three
  // (memory only, SQLite cursor, sql callable).
  CHECK_MESSAGE(parsed >= 3, std::string(std::to_string(parsed) + " *.json examples in " + conf));
}

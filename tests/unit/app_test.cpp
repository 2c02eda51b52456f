// BuildApp: configuration to registry and callables, end to end in memory.
#include "../../src/app.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "../../src/backends/server_support.h"
#include "../../src/backends/sqlite_cursor.h"
#include "test_support.h"

using namespace healthcheck;

namespace {
// One request, on a worker of its own, to the app `json` configures.
Response Answer(const std::string& json, const std::string& folder, MemoryLog& log) {
  Result<Config> config = ParseConfig(json, folder + "/healthcheck.json");
  REQUIRE_MESSAGE(config.ok(), config.status().message());
  WorkerContext worker;
  return HandleWithApp(Request{}, *BuildApp(config.value()), worker, log);
}
}  // namespace

TEST_CASE("memory_backend is always registered; cursor_backend only when configured") {
  auto plain = BuildApp(Config{});
  CHECK(plain->registry.names() == std::vector<std::string>{"memory_backend"});
  Config with_db;
  with_db.cursor_backend = CursorBackendSettings{};
  with_db.cursor_backend->database = "/nonexistent.db";
  CHECK(BuildApp(with_db)->registry.names() ==
        std::vector<std::string>{"cursor_backend", "memory_backend"});
}

TEST_CASE("configured checks answer: sql callable truthy and falsy, missing database") {
  testing::TempDir dir;
  const std::string kSql = R"({"services": ["memory_backend", "cursor_backend"],
      "callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"},
      "cursor_backend": {"database": "app.db"}})";
  MemoryLog log;
  CHECK(Answer(kSql, dir.path(), log).status_code == 500);  // No database yet.
  REQUIRE(log.lines.size() == 1);
  CHECK(testing::WithoutDuration(log.lines[0]) ==
        "healthcheck: unhealthy: cursor_backend failed after N ms: cannot open \"" +
            dir.file("app.db") + "\": unable to open database file (No such file or directory)");
  CHECK_FALSE(testing::Exists(dir.file("app.db")));

  testing::MakeDatabase(dir.file("app.db"), 0);
  MemoryLog healthy_log;
  CHECK(Answer(kSql, dir.path(), healthy_log).status_code == 200);
  CHECK(healthy_log.lines.empty());

  testing::TempDir other;
  testing::MakeDatabase(other.file("app.db"), 3);
  MemoryLog failing_log;
  CHECK(Answer(kSql, other.path(), failing_log).status_code == 500);
  REQUIRE(failing_log.lines.size() == 1);
  CHECK(testing::WithoutDuration(failing_log.lines[0]) ==
        "healthcheck: unhealthy: callable (sql) failed after N ms: returned false");
}

TEST_CASE("an embedder's callable asks the container for a configured dependency") {
  testing::TempDir dir;
  testing::MakeDatabase(dir.file("app.db"), 1);
  Result<Config> config =
      ParseConfig(R"({"cursor_backend": {"database": "app.db"}})", dir.file("hc.json"));
  REQUIRE(config.ok());
  auto app = std::make_shared<App>(*BuildApp(config.value()));
  int calls = 0;
  // As README's example writes it.
  app->check.callable = [&calls](Container& container) -> Status {
    ++calls;
    auto cursor = container.build_as<SqliteCursor>("cursor_backend");
    if (!cursor.ok()) return cursor.status();
    auto truthy = cursor.value()->FirstValueIsTruthy("SELECT count(*) FROM failed_jobs");
    if (!truthy.ok()) return truthy.status();
    return truthy.value() ? Status::Ok() : Status::Error("jobs failed");
  };
  WorkerContext worker;
  MemoryLog log;
  CHECK(HandleWithApp(Request{}, *app, worker, log).status_code == 200);
  CHECK(log.lines.empty());
  CHECK(calls == 1);
  testing::RunPython(
      "import sqlite3, sys\n"
      "c = sqlite3.connect(sys.argv[1])\n"
      "c.execute('DELETE FROM failed_jobs')\n"
      "c.commit()\n",
      dir.file("app.db"));
  CHECK(HandleWithApp(Request{}, *app, worker, log).status_code == 500);
  REQUIRE(log.lines.size() == 1);
  CHECK(testing::WithoutDuration(log.lines[0]) ==
        "healthcheck: unhealthy: callable failed after N ms: jobs failed");
}

TEST_CASE("a command callable from the configuration") {
  testing::TempDir dir;
  MemoryLog log;
  CHECK(Answer(R"({"callable": {"command": ["/bin/true"]}})", dir.path(), log).status_code == 200);
  CHECK(Answer(R"({"callable": {"command": ["/bin/false"]}})", dir.path(), log).status_code == 500);
  REQUIRE(log.lines.size() == 1);
  CHECK(testing::WithoutDuration(log.lines[0]) ==
        "healthcheck: unhealthy: callable (command) failed after N ms: \"/bin/false\" exited "
        "with status 1");
}

TEST_CASE("an app with a missing database answers 500 and logs the README's line") {
  testing::TempDir dir;
  MemoryLog log;
  Response response = Answer(R"({"services": ["cursor_backend"],
      "cursor_backend": {"database": "app.db"}})",
                             dir.path(), log);
  CHECK(response.status_code == 500);
  CHECK(response.bytes == MakeResponse(Health::kUnhealthy, BodyMode::kWithBody).bytes);
  REQUIRE(log.lines.size() == 1);
  CHECK(testing::WithoutDuration(log.lines[0]) ==
        "healthcheck: unhealthy: cursor_backend failed after N ms: cannot open \"" +
            dir.file("app.db") + "\": unable to open database file (No such file or directory)");
  CHECK_FALSE(testing::Exists(dir.file("app.db")));
}

TEST_CASE("BuildApp carries the services, the timeout and the callable's name") {
  Result<Config> config = ParseConfig(R"({"services": ["memory_backend", "cursor_backend"],
      "callable": {"sql": "SELECT 1"}, "cursor_backend": {"database": "a.db"},
      "timeout_ms": 1234})",
                                      "/etc/hc/healthcheck.json");
  REQUIRE(config.ok());
  auto app = BuildApp(config.value());
  CHECK(app->check.services == std::vector<std::string>{"memory_backend", "cursor_backend"});
  CHECK(app->check.timeout_ms == 1234);
  CHECK(app->check.callable_name == "callable (sql)");
  CHECK(static_cast<bool>(app->check.callable));
  CHECK(app->config.source == "/etc/hc/healthcheck.json");
  CHECK_FALSE(static_cast<bool>(BuildApp(Config{})->check.callable));
}

TEST_CASE("the empty configuration answers 200, and HEAD without a body") {
  auto app = BuildApp(Config{});
  WorkerContext worker;
  MemoryLog log;
  CHECK(HandleWithApp(Request{}, *app, worker, log).bytes ==
        MakeResponse(Health::kHealthy, BodyMode::kWithBody).bytes);
  Request head;
  head.method = "HEAD";
  CHECK(HandleWithApp(head, *app, worker, log).bytes ==
        MakeResponse(Health::kHealthy, BodyMode::kHeadersOnly).bytes);
  CHECK(log.lines.empty());
}

TEST_CASE("a configured database that no check uses is never opened") {
  testing::TempDir dir;
  MemoryLog log;
  // The file does not exist; nothing asks for cursor_backend, so all is well.
  CHECK(Answer(R"({"services": ["memory_backend"], "cursor_backend": {"database": "app.db"}})",
               dir.path(), log)
            .status_code == 200);
  CHECK(log.lines.empty());
}

TEST_CASE("the configured timeout bounds a command callable") {
  testing::TempDir dir;
  MemoryLog log;
  auto start = std::chrono::steady_clock::now();
  CHECK(Answer(R"({"callable": {"command": ["/bin/sleep", "30"]}, "timeout_ms": 100})", dir.path(),
               log)
            .status_code == 500);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000));
  REQUIRE(log.lines.size() == 1);
  CHECK(testing::WithoutDuration(log.lines[0]) ==
        "healthcheck: unhealthy: callable (command) failed after N ms: \"/bin/sleep\" was "
        "killed at the request deadline");
}

// Found by issue 13's attack review: the shared file's name must not carry
// a hash of the database password.
namespace {

// FNV-1a 64 over strings each followed by NUL: what anyone can compute.
struct GuessHash {
  uint64_t hash = 14695981039346656037ull;
  void add(const std::string& text) {
    for (unsigned char c : text + '\0') hash = (hash ^ c) * 1099511628211ull;
  }
};

}  // namespace

TEST_CASE("a shared file's name does not let anyone who can list cache_folder test a "
          "database password offline") {
  // The top-level check's shared file is named health-<FNV-1a 64>.result
  // (app.cpp:54), the hash over Fingerprint (app.cpp:26-43), which takes
  // ConnectionFingerprint (server_support.cpp:124), the database PASSWORD
  // included. Every other input is in the configuration (often 0644) or
  // guessable; the password lives in a 0600 password_file / env_file,
  // "never in a message". cache_folder may be listable by others
  // (RuntimeDirectory= is 0755 unless RuntimeDirectoryMode= says
  // otherwise; the README recommends it with no mode). So a local user
  // lists the folder and tries passwords against the name offline, at
  // billions a second (FNV-1a is no password hash, and not even one-way).
  testing::TempDir dir;
  std::string source = dir.file("healthcheck.json");
  Result<Config> parsed = ParseConfig(R"({"services": ["cursor_backend"],
      "cursor_backend": {"driver": "mysql", "host": "db.internal", "port": 3306, "username": "app",
                         "database": "app"},
      "cache": {"success_ms": 1000, "failure_ms": 1000}, "cache_folder": "state"})",
                                      source);
  REQUIRE(parsed.ok());
  Config config = parsed.value();
  config.cursor_backend->server.password = "hunter2";  // As ResolveServerSettings reads it from its file.
  auto app = BuildApp(config);
  std::string name = app->check.shared_file;
  REQUIRE(name.size() > 0);

  // The attacker's offline guess, from public inputs and a candidate password.
  GuessHash guess;
  guess.add(source);
  guess.add("");  // The top-level probe.
  guess.add("cursor_backend");
  guess.add("0");  // No callable.
  guess.add("");   // No sql.
  guess.add(std::to_string(config.check.timeout_ms));
  guess.add(config.cursor_backend->database);
  CursorBackendSettings candidate = *config.cursor_backend;
  candidate.server.password = "hunter2";
  guess.add(ConnectionFingerprint(candidate));
  char suffix[32];
  snprintf(suffix, sizeof suffix, "-%016llx.result", static_cast<unsigned long long>(guess.hash));
  INFO("shared file " << name);
  CHECK_MESSAGE(name.find(suffix) == std::string::npos,
                "the file name confirms the guessed database password 'hunter2'");
}

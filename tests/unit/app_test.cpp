// BuildApp: configuration to registry and callables, end to end in memory.
#include "../../src/app.h"

#include <doctest/doctest.h>

#include "../../src/backends/sqlite_cursor.h"
#include "test_support.h"

using namespace healthcheck;

namespace {
Response Answer(const std::string& json, const std::string& folder, MemoryLog& log) {
  Result<Config> config = ParseConfig(json, folder + "/healthcheck.json");
  REQUIRE_MESSAGE(config.ok(), config.status().message());
  return HandleWithApp(Request{}, *BuildApp(config.value()), log);
}
}  // namespace

TEST_CASE("memory_backend is always registered; cursor_backend only when configured") {
  auto plain = BuildApp(Config{});
  CHECK(plain->registry.names() == std::vector<std::string>{"memory_backend"});
  Config with_db;
  with_db.cursor_backend = CursorBackendSettings{"/nonexistent.db", 10};
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
  CHECK(log.lines[0].find("cursor_backend failed") != std::string::npos);
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
  CHECK(failing_log.lines[0].find("callable (sql) failed") != std::string::npos);
}

TEST_CASE("an embedder's callable asks the container for a configured dependency") {
  testing::TempDir dir;
  testing::MakeDatabase(dir.file("app.db"), 1);
  Result<Config> config =
      ParseConfig(R"({"cursor_backend": {"database": "app.db"}})", dir.file("hc.json"));
  REQUIRE(config.ok());
  auto app = std::make_shared<App>(*BuildApp(config.value()));
  int calls = 0;
  app->check.callable = [&calls](Container& container) {
    ++calls;
    auto cursor = container.build_as<SqliteCursor>("cursor_backend");
    if (!cursor.ok()) throw std::runtime_error(cursor.status().message());
    auto truthy = cursor.value()->FirstValueIsTruthy("SELECT count(*) FROM failed_jobs");
    return truthy.ok() && truthy.value();
  };
  MemoryLog log;
  CHECK(HandleWithApp(Request{}, *app, log).status_code == 200);
  CHECK(calls == 1);
}

TEST_CASE("a command callable from the configuration") {
  testing::TempDir dir;
  MemoryLog log;
  CHECK(Answer(R"({"callable": {"command": ["/bin/true"]}})", dir.path(), log).status_code == 200);
  CHECK(Answer(R"({"callable": {"command": ["/bin/false"]}})", dir.path(), log).status_code == 500);
  REQUIRE(log.lines.size() == 1);
  CHECK(log.lines[0].find("callable (command) failed") != std::string::npos);
  CHECK(log.lines[0].find("exited with status 1") != std::string::npos);
}

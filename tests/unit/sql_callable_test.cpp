// The sql callable, through a Container whose registry builds a real
// cursor_backend on a temp SQLite file.
#include "../../src/callables/sql_callable.h"

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>

#include "../../src/backends/sqlite_cursor.h"
#include "../../src/config.h"
#include "database_fixtures.h"
#include "test_support.h"

using namespace healthcheck;

namespace {

const std::string kCursorBackend(kCursorBackendName);

// A registry whose cursor_backend opens `path`, counting each build.
DependencyRegistry CursorRegistry(const std::string& path, int* builds) {
  CursorBackendSettings settings;
  settings.database = path;
  settings.busy_timeout_ms = 200;
  DependencyRegistry registry;
  registry.add(kCursorBackend, [settings, builds](const Deadline& deadline) {
    ++*builds;
    return BuildSqliteCursor(settings, deadline);
  });
  return registry;
}

// What the callable threw, or "" when it returned.
std::string ThrownBy(const HealthCallable& callable, Container& container) {
  try {
    callable(container);
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

struct NotACursor : Dependency {};

}  // namespace

TEST_CASE("the sql callable is healthy when the first value is truthy, and not when falsy") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 0);
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  Container container(registry, Deadline::FromNow(2000));
  CHECK(MakeSqlCallable("SELECT count(*) = 0 FROM failed_jobs")(container));
  CHECK_FALSE(MakeSqlCallable("SELECT count(*) FROM failed_jobs")(container));
  CHECK_FALSE(MakeSqlCallable("SELECT 1 FROM failed_jobs")(container));  // No row.
  CHECK(builds == 1);  // One cursor per container, shared by every query.
}

TEST_CASE("the sql callable reuses the cursor a cursor_backend service already built") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 2);
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  HealthCheck check;
  check.services = {kCursorBackend};
  check.callable = MakeSqlCallable("SELECT count(*) = 2 FROM failed_jobs");
  Container container(registry, Deadline::FromNow(2000));
  CHECK(RunHealthCheck(check, container).healthy);
  CHECK(builds == 1);
}

TEST_CASE("no lock outlives the request's container, and one connection serves them all") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 0);
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  for (int request = 0; request < 3; ++request) {
    {
      Container container(registry, Deadline::FromNow(2000));
      CHECK(MakeSqlCallable("SELECT 1")(container));
      CHECK(testing::OpenDescriptorsOn(path) == 1);
    }
    CHECK(testing::NobodyHoldsALock(path));
  }
  CHECK(builds == 3);
}

TEST_CASE("a missing database throws the cursor's reason and is not created") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  Container container(registry, Deadline::FromNow(2000));
  CHECK(ThrownBy(MakeSqlCallable("SELECT 1"), container) ==
        "cannot open \"" + path + "\": unable to open database file (No such file or directory)");
  CHECK_FALSE(testing::Exists(path));
}

TEST_CASE("a bad, written or multiple-statement query throws its reason; the file is unchanged") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  std::string before = testing::ReadFile(path);
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  {
    Container container(registry, Deadline::FromNow(2000));
    CHECK(ThrownBy(MakeSqlCallable("SELECT nope FROM nowhere"), container) ==
          "cannot read \"" + path + "\": no such table: nowhere");
    CHECK(ThrownBy(MakeSqlCallable("DELETE FROM failed_jobs"), container) ==
          "the query must only read (a SELECT)");
    CHECK(ThrownBy(MakeSqlCallable("SELECT 1; DELETE FROM failed_jobs"), container) ==
          "the query must be a single statement");
  }
  CHECK(testing::ReadFile(path) == before);
}

TEST_CASE("without a cursor_backend in the registry the callable throws") {
  DependencyRegistry registry;
  Container container(registry, Deadline::FromNow(2000));
  CHECK(ThrownBy(MakeSqlCallable("SELECT 1"), container) ==
        "unknown dependency \"cursor_backend\"");
}

TEST_CASE("a cursor_backend that is not an SQLite cursor is refused") {
  DependencyRegistry registry;
  registry.add(kCursorBackend, [](const Deadline&) -> Result<std::shared_ptr<Dependency>> {
    return std::shared_ptr<Dependency>(std::make_shared<NotACursor>());
  });
  Container container(registry, Deadline::FromNow(2000));
  CHECK(ThrownBy(MakeSqlCallable("SELECT 1"), container) ==
        "dependency \"cursor_backend\" is not of the expected type");
}

TEST_CASE("a slow query is stopped at the request deadline") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 0);
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  Container container(registry, Deadline::FromNow(100));
  auto start = std::chrono::steady_clock::now();
  CHECK(ThrownBy(MakeSqlCallable("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                                 "WHERE i < 1000000000) SELECT count(*) FROM n"),
                 container) == "cannot read \"" + path + "\": stopped at the request deadline");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000));
}

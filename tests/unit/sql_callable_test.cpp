// The sql callable, through a Container whose registry builds a real
// cursor_backend on a temp SQLite file. It returns a Status, never throws.
#include "../../src/callables/sql_callable.h"

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>

#include "../../src/backends/sqlite_cursor.h"
#include "../../src/config.h"
#include "../../src/worker_context.h"
#include "database_fixtures.h"
#include "test_support.h"

using namespace healthcheck;
using testing::kCursorBackend;

namespace {

// A registry whose cursor_backend opens `path`, counting each build.
DependencyRegistry CursorRegistry(const std::string& path, int* builds) {
  CursorBackendSettings settings = testing::CursorSettings(path, 200);
  DependencyRegistry registry;
  registry.add(kCursorBackend, [settings, builds](const Deadline& deadline, WorkerContext& worker) {
    ++*builds;
    return BuildSqliteCursor(settings, deadline, worker);
  });
  return registry;
}

// What the callable said: "ok", or its reason. A callable that throws fails
// the test: the built-in ones return their reasons.
std::string Run(const HealthCallable& callable, Container& container) {
  try {
    Status status = callable(container);
    return status.ok() ? "ok" : status.message();
  } catch (const std::exception& error) {
    std::string why = std::string("the callable threw: ") + error.what();
    FAIL(why);
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
  WorkerContext worker;
  Container container(registry, worker, Deadline::FromNow(2000));
  CHECK(Run(MakeSqlCallable("SELECT count(*) = 0 FROM failed_jobs"), container) == "ok");
  CHECK(Run(MakeSqlCallable("SELECT count(*) FROM failed_jobs"), container) == "returned false");
  CHECK(Run(MakeSqlCallable("SELECT 1 FROM failed_jobs"), container) ==
        "the query returned no row");
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
  WorkerContext worker;
  Container container(registry, worker, Deadline::FromNow(2000));
  CHECK(RunHealthCheck(check, container).healthy);
  CHECK(builds == 1);
}

TEST_CASE("no lock outlives a request; the worker keeps one connection between requests") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 0);
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  {
    WorkerContext worker;
    for (int request = 0; request < 3; ++request) {
      {
        Container container(registry, worker, Deadline::FromNow(2000));
        CHECK(Run(MakeSqlCallable("SELECT 1"), container) == "ok");
        CHECK(testing::OpenDescriptorsOn(path) == 1);
      }
      worker.EndRequest();
      CHECK(testing::OpenDescriptorsOn(path) == 1);
      CHECK(testing::NobodyHoldsALock(path));
    }
  }
  CHECK(testing::OpenDescriptorsOn(path) == 0);  // Closed with its worker.
  CHECK(builds == 3);
}

TEST_CASE("a missing database is the cursor's reason, and is not created") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  WorkerContext worker;
  Container container(registry, worker, Deadline::FromNow(2000));
  CHECK(Run(MakeSqlCallable("SELECT 1"), container) ==
        "cannot open \"" + path + "\": unable to open database file (No such file or directory)");
  CHECK_FALSE(testing::Exists(path));
}

TEST_CASE("a bad, written, transaction or multiple-statement query is its reason; file unchanged") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  std::string before = testing::ReadFile(path);
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  const std::string kMustSelect =
      "the query must be a read-only query that returns a row (a SELECT)";
  {
    WorkerContext worker;
    Container container(registry, worker, Deadline::FromNow(2000));
    CHECK(Run(MakeSqlCallable("SELECT nope FROM nowhere"), container) ==
          "cannot read \"" + path + "\": no such table: nowhere");
    CHECK(Run(MakeSqlCallable("DELETE FROM failed_jobs"), container) == kMustSelect);
    CHECK(Run(MakeSqlCallable("BEGIN"), container) == kMustSelect);
    CHECK(Run(MakeSqlCallable("SAVEPOINT a"), container) == kMustSelect);
    CHECK(Run(MakeSqlCallable("SELECT 1; DELETE FROM failed_jobs"), container) ==
          "the query must be a single statement");
  }
  CHECK(testing::ReadFile(path) == before);
}

TEST_CASE("without a cursor_backend in the registry the callable names the missing dependency") {
  DependencyRegistry registry;
  WorkerContext worker;
  Container container(registry, worker, Deadline::FromNow(2000));
  CHECK(Run(MakeSqlCallable("SELECT 1"), container) == "unknown dependency \"cursor_backend\"");
}

TEST_CASE("a cursor_backend that is not an SQLite cursor is refused") {
  DependencyRegistry registry;
  registry.add(kCursorBackend,
               [](const Deadline&, WorkerContext&) -> Result<std::shared_ptr<Dependency>> {
                 return std::shared_ptr<Dependency>(std::make_shared<NotACursor>());
               });
  WorkerContext worker;
  Container container(registry, worker, Deadline::FromNow(2000));
  CHECK(Run(MakeSqlCallable("SELECT 1"), container) ==
        "dependency \"cursor_backend\" is not of the expected type");
}

TEST_CASE("a slow query is stopped at the request deadline") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 0);
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  WorkerContext worker;
  Container container(registry, worker, Deadline::FromNow(100));
  auto start = std::chrono::steady_clock::now();
  CHECK(Run(MakeSqlCallable("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                            "WHERE i < 1000000000) SELECT count(*) FROM n"),
            container) == "cannot read \"" + path + "\": stopped at the request deadline");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000));
}

TEST_CASE("a failing sql callable is logged with its reason, not as an exception") {
  testing::TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 3);
  int builds = 0;
  DependencyRegistry registry = CursorRegistry(path, &builds);
  HealthCheck check;
  check.callable_name = "callable (sql)";
  WorkerContext worker;
  struct Case {
    std::string sql;
    std::string line;
  };
  const Case cases[] = {
      {"SELECT count(*) = 0 FROM failed_jobs",
       "healthcheck: unhealthy: callable (sql) failed after N ms: returned false"},
      {"SELECT nope FROM nowhere",
       "healthcheck: unhealthy: callable (sql) failed after N ms: "
       "cannot read \"" +
           path + "\": no such table: nowhere"},
  };
  for (const Case& each : cases) {
    CAPTURE(each.sql);
    check.callable = MakeSqlCallable(each.sql);
    MemoryLog log;
    CHECK(HandleHealth(Request{}, check, registry, worker, log).status_code == 500);
    REQUIRE(log.lines.size() == 1);
    CHECK(testing::WithoutDuration(log.lines[0]) == each.line);
  }
}

// The SQLite cursor backend on real files: it reads, never creates, never
// changes, leaves no transaction behind, and fails within its bounds (the
// busy timeout and the request's deadline) on every kind of broken database.
#include "../../src/backends/sqlite_cursor.h"

#include <doctest/doctest.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "../../src/worker_context.h"
#include "database_fixtures.h"
#include "test_support.h"

using namespace healthcheck;
using testing::AsUnprivileged;
using testing::ExclusiveLockHolder;
using testing::Exists;
using testing::MakeWalDatabase;
using testing::ReadFile;
using testing::TempDir;

namespace {

bool Truthy(SqliteCursor& cursor, const std::string& sql) {
  auto value = cursor.FirstValueIsTruthy(sql);
  REQUIRE_MESSAGE(value.ok(), value.status().message());
  return value.value();
}

// Why `sql` failed on `cursor`, or "" when it did not.
std::string ErrorOf(SqliteCursor& cursor, const std::string& sql) {
  auto value = cursor.FirstValueIsTruthy(sql);
  return value.ok() ? "" : value.status().message();
}

const std::string kMustSelect = "the query must be a read-only query that returns a row (a SELECT)";

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

}  // namespace

TEST_CASE("a readable database opens and proves it can read") {
  TempDir dir;
  testing::MakeDatabase(dir.file("app.db"), 2);
  std::string before = ReadFile(dir.file("app.db"));
  WorkerContext worker;
  {
    auto cursor = SqliteCursor::OpenReadOnly(testing::CursorSettings(dir.file("app.db")),
                                             Deadline::FromNow(2000), worker);
    REQUIRE_MESSAGE(cursor.ok(), cursor.status().message());
    CHECK(Truthy(*cursor.value(), "SELECT count(*) FROM failed_jobs"));
    CHECK(testing::OpenDescriptorsOn(dir.file("app.db")) == 1);
  }
  worker.EndRequest();
  // No lock outlives a request (the connection the worker keeps for its
  // next request holds none).
  CHECK(testing::OpenDescriptorsOn(dir.file("app.db")) == 1);
  CHECK(testing::NobodyHoldsALock(dir.file("app.db")));
  CHECK(ReadFile(dir.file("app.db")) == before);
  CHECK_FALSE(Exists(dir.file("app.db-journal")));
  CHECK_FALSE(Exists(dir.file("app.db-wal")));
  CHECK_FALSE(Exists(dir.file("app.db-shm")));
}

TEST_CASE("missing database fails and is not created") {
  TempDir dir;
  std::string path = dir.file("app.db");
  CHECK(testing::CheckCursor(path) ==
        "cannot open \"" + path + "\": unable to open database file (No such file or directory)");
  CHECK_FALSE(Exists(path));
  CHECK_FALSE(Exists(path + "-journal"));
  CHECK_FALSE(Exists(path + "-wal"));
  CHECK_FALSE(Exists(path + "-shm"));
}

TEST_CASE("a file that is not a database fails and is left as it was") {
  TempDir dir;
  std::string path = dir.file("app.db");
  std::string junk(4096, 'x');
  testing::WriteFile(path, junk);
  CHECK(testing::CheckCursor(path) == "cannot read \"" + path + "\": file is not a database");
  CHECK(ReadFile(path) == junk);
}

TEST_CASE("an empty file fails as not a database, and stays empty") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::WriteFile(path, "");  // What `touch` leaves, and SQLite takes for an empty database.
  CHECK(testing::CheckCursor(path) ==
        "cannot read \"" + path + "\": the file is empty, not an SQLite database");
  CHECK(testing::Exists(path));
  CHECK(ReadFile(path).empty());
  CHECK_FALSE(Exists(path + "-journal"));
}

TEST_CASE("a folder where the database should be fails") {
  TempDir dir;
  CHECK(testing::CheckCursor(dir.path()) ==
        "cannot open \"" + dir.path() + "\": not a regular file");
}

TEST_CASE("a FIFO where the database should be fails at once, never waiting for a writer") {
  TempDir dir;
  std::string path = dir.file("app.db");
  REQUIRE(mkfifo(path.c_str(), 0644) == 0);
  auto started = std::chrono::steady_clock::now();
  CHECK(testing::CheckCursor(path) == "cannot open \"" + path + "\": not a regular file");
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
}

TEST_CASE("locked by another connection fails within the busy timeout, file unchanged") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  std::string before = ReadFile(path);
  ExclusiveLockHolder lock(path);
  auto start = std::chrono::steady_clock::now();
  CHECK(testing::CheckCursor(path, 200) == "cannot read \"" + path + "\": database is locked");
  auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= std::chrono::milliseconds(150));
  CHECK(waited < std::chrono::milliseconds(1500));
  CHECK(ReadFile(path) == before);
}

TEST_CASE("the request deadline caps the busy timeout") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  ExclusiveLockHolder lock(path);
  auto start = Clock::now();
  WorkerContext worker;
  auto cursor = SqliteCursor::OpenReadOnly(testing::CursorSettings(path, 10000),
                                           Deadline::FromNow(200), worker);
  auto waited = Clock::now() - start;
  REQUIRE_FALSE(cursor.ok());
  CHECK(cursor.status().message() == "cannot read \"" + path + "\": database is locked");
  CHECK(waited >= milliseconds(150));
  CHECK(waited < milliseconds(1000));
}

// The busy timeout used to be set once, when the connection opened, to what
// was left of the deadline then: a lock met later in the request waited that
// long again, past the deadline.
TEST_CASE("a lock met by the query after the header read waits no longer than the time left") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  WorkerContext worker;
  Deadline deadline = Deadline::FromNow(1000);
  auto opened = SqliteCursor::OpenReadOnly(testing::CursorSettings(path, 60000), deadline, worker);
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  std::this_thread::sleep_until(deadline.when() - milliseconds(300));
  ExclusiveLockHolder lock(path);
  auto result = opened.value()->FirstValueIsTruthy("SELECT count(*) FROM failed_jobs");
  auto returned = Clock::now();
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().message() == "cannot read \"" + path + "\": database is locked");
  // It waited for the lock up to the deadline, and not much beyond it.
  CHECK(returned >= deadline.when() - milliseconds(20));
  CHECK(returned < deadline.when() + milliseconds(400));
}

TEST_CASE("a lock met late in a request waits the busy timeout from when the wait began") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  WorkerContext worker;
  auto opened = SqliteCursor::OpenReadOnly(testing::CursorSettings(path, 300),
                                           Deadline::FromNow(5000), worker);
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  // Longer than the busy timeout since the cursor opened.
  std::this_thread::sleep_for(milliseconds(500));
  ExclusiveLockHolder lock(path);
  auto start = Clock::now();
  auto result = opened.value()->FirstValueIsTruthy("SELECT count(*) FROM failed_jobs");
  auto waited = Clock::now() - start;
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().message() == "cannot read \"" + path + "\": database is locked");
  CHECK(waited >= milliseconds(280));
  CHECK(waited < milliseconds(300 + 400));
}

TEST_CASE("no read permission fails (checked as an unprivileged user)") {
  TempDir dir;
  chmod(dir.path().c_str(), 0755);  // nobody may look inside, but not read the file.
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  std::string before = ReadFile(path);
  REQUIRE(chmod(path.c_str(), 0) == 0);
  std::string message = AsUnprivileged([&path]() { return testing::CheckCursor(path); });
  CHECK(message ==
        "cannot open \"" + path + "\": unable to open database file (Permission denied)");
  REQUIRE(chmod(path.c_str(), 0600) == 0);
  CHECK(ReadFile(path) == before);
  CHECK_FALSE(Exists(path + "-journal"));
}

TEST_CASE("a readable database in a folder the checker may not write is still read") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  REQUIRE(chmod(path.c_str(), 0644) == 0);
  REQUIRE(chmod(dir.path().c_str(), 0555) == 0);
  std::string message = AsUnprivileged([&path]() -> std::string {
    WorkerContext worker;
    return testing::Query(path, worker, "SELECT count(*) FROM failed_jobs");
  });
  CHECK(message == "truthy");
  CHECK_FALSE(Exists(path + "-journal"));
}

TEST_CASE("truthiness of the first column of the first row, as in Python") {
  TempDir dir;
  testing::MakeDatabase(dir.file("app.db"), 1);
  WorkerContext worker;
  auto opened = SqliteCursor::OpenReadOnly(testing::CursorSettings(dir.file("app.db")),
                                           Deadline::FromNow(5000), worker);
  REQUIRE(opened.ok());
  SqliteCursor& cursor = *opened.value();
  CHECK_FALSE(Truthy(cursor, "SELECT NULL"));
  CHECK_FALSE(Truthy(cursor, "SELECT 0"));
  CHECK(Truthy(cursor, "SELECT 1"));
  CHECK(Truthy(cursor, "SELECT -7"));
  CHECK_FALSE(Truthy(cursor, "SELECT 0.0"));
  CHECK(Truthy(cursor, "SELECT 2.5"));
  CHECK_FALSE(Truthy(cursor, "SELECT ''"));
  CHECK(Truthy(cursor, "SELECT 'x'"));
  CHECK(Truthy(cursor, "SELECT '0'"));
  CHECK_FALSE(Truthy(cursor, "SELECT x''"));
  CHECK(Truthy(cursor, "SELECT x'00'"));
  CHECK_FALSE(Truthy(cursor, "SELECT count(*) = 0 FROM failed_jobs"));
  CHECK(Truthy(cursor, "SELECT 1;  "));
  CHECK(Truthy(cursor, "PRAGMA integrity_check"));  // 'ok': a read-only PRAGMA returns a row.
  CHECK(ErrorOf(cursor, "SELECT 1 WHERE 0") == "the query returned no row");
}

TEST_CASE("queries must be one read-only statement") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  std::string before = ReadFile(path);
  {
    WorkerContext worker;
    auto opened =
        SqliteCursor::OpenReadOnly(testing::CursorSettings(path), Deadline::FromNow(5000), worker);
    REQUIRE(opened.ok());
    SqliteCursor& cursor = *opened.value();
    CHECK(ErrorOf(cursor, "SELECT 1; DELETE FROM failed_jobs") ==
          "the query must be a single statement");
    CHECK(ErrorOf(cursor, "DELETE FROM failed_jobs") == kMustSelect);
    CHECK(ErrorOf(cursor, "VACUUM INTO '" + dir.file("copy.db") + "'") == kMustSelect);
    CHECK(ErrorOf(cursor, "ATTACH '" + dir.file("other.db") + "' AS other") == kMustSelect);
    CHECK(ErrorOf(cursor, "SELECT nope FROM nowhere") ==
          "cannot read \"" + path + "\": no such table: nowhere");
    CHECK(ErrorOf(cursor, "  ;") == "the query is empty");
  }
  CHECK(ReadFile(path) == before);
  CHECK_FALSE(Exists(dir.file("copy.db")));
  CHECK_FALSE(Exists(dir.file("other.db")));
}

// BEGIN and SAVEPOINT only read, as SQLite counts it, but would leave the
// kept connection in a transaction that holds the shared lock from the next
// request's header read on, and no writer could ever commit again.
TEST_CASE(
    "a query that would open a transaction or returns no row fails, and no transaction stays") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  struct Case {
    std::string sql;
    std::string error;
  };
  const Case cases[] = {
      {"BEGIN", kMustSelect},
      {"BEGIN IMMEDIATE", kMustSelect},
      {"SAVEPOINT a", kMustSelect},
      {"BEGIN; SELECT 1", "the query must be a single statement"},
      {"SELECT id FROM failed_jobs WHERE id < 0", "the query returned no row"},
  };
  for (const Case& each : cases) {
    CAPTURE(each.sql);
    WorkerContext worker;
    REQUIRE(testing::CheckCursor(path, worker) == "ok");  // A connection is kept...
    CHECK(testing::Query(path, worker, each.sql) == each.error);
    REQUIRE(testing::CheckCursor(path, worker) == "ok");  // ...and the next request reads.
    CHECK(testing::AnotherProcessCanWrite(path));
  }
}

TEST_CASE("a query running past the deadline is interrupted") {
  TempDir dir;
  testing::MakeDatabase(dir.file("app.db"));
  WorkerContext worker;
  auto opened = SqliteCursor::OpenReadOnly(testing::CursorSettings(dir.file("app.db")),
                                           Deadline::FromNow(100), worker);
  REQUIRE(opened.ok());
  auto start = std::chrono::steady_clock::now();
  auto result = opened.value()->FirstValueIsTruthy(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) "
      "SELECT count(*) FROM n");
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().message() ==
        "cannot read \"" + dir.file("app.db") + "\": stopped at the request deadline");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000));
}

TEST_CASE("a WAL database nobody writes is read without creating -wal or -shm") {
  TempDir dir;
  for (const std::string name : {"app.db", "odd?name#with%.db"}) {
    std::string path = dir.file(name);
    MakeWalDatabase(path);
    REQUIRE_FALSE(Exists(path + "-wal"));
    std::string before = ReadFile(path);
    {
      WorkerContext worker;
      auto cursor = SqliteCursor::OpenReadOnly(testing::CursorSettings(path),
                                               Deadline::FromNow(2000), worker);
      REQUIRE_MESSAGE(cursor.ok(), cursor.status().message());
      CHECK_FALSE(Truthy(*cursor.value(), "SELECT count(*) FROM failed_jobs"));
    }
    CHECK_FALSE(Exists(path + "-wal"));
    CHECK_FALSE(Exists(path + "-shm"));
    CHECK(ReadFile(path) == before);
  }
}

// An embedder may register more than one SQLite dependency and build them
// all in one request: each needs a live connection of its own.
TEST_CASE("two SQLite dependencies on two files are both usable in one request") {
  TempDir dir;
  testing::MakeDatabase(dir.file("a.db"), 1);
  testing::MakeDatabase(dir.file("b.db"), 0);
  DependencyRegistry registry;
  for (const std::string name : {"a", "b"}) {
    CursorBackendSettings settings = testing::CursorSettings(dir.file(name + ".db"));
    registry.add(name, [settings](const Deadline& deadline, WorkerContext& worker) {
      return BuildSqliteCursor(settings, deadline, worker);
    });
  }
  WorkerContext worker;
  Container container(registry, worker, Deadline::FromNow(2000));
  auto a = container.build_as<SqliteCursor>("a");
  REQUIRE(a.ok());
  auto b = container.build_as<SqliteCursor>("b");
  REQUIRE(b.ok());
  CHECK(ErrorOf(*a.value(), "SELECT count(*) = 1 FROM failed_jobs") == "");
  CHECK(ErrorOf(*b.value(), "SELECT count(*) = 0 FROM failed_jobs") == "");
}

TEST_CASE("two SQLite dependencies on one file each get a live connection in one request") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 0);
  DependencyRegistry registry;
  CursorBackendSettings settings = testing::CursorSettings(path);
  for (const std::string name : {"a", "b"}) {
    registry.add(name, [settings](const Deadline& deadline, WorkerContext& worker) {
      return BuildSqliteCursor(settings, deadline, worker);
    });
  }
  WorkerContext worker;
  for (int request = 0; request < 2; ++request) {
    {
      Container container(registry, worker, Deadline::FromNow(2000));
      auto a = container.build_as<SqliteCursor>("a");
      REQUIRE(a.ok());
      auto b = container.build_as<SqliteCursor>("b");
      REQUIRE(b.ok());
      CHECK(ErrorOf(*a.value(), "SELECT count(*) = 0 FROM failed_jobs") == "");
      CHECK(ErrorOf(*b.value(), "SELECT count(*) = 0 FROM failed_jobs") == "");
    }
    worker.EndRequest();
  }
}

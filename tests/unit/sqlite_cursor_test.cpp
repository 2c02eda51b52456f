// The SQLite cursor backend on real files: it reads, never creates, never
// changes, and fails within its bounds on every kind of broken database.
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

#include "database_fixtures.h"
#include "test_support.h"

using namespace healthcheck;
using testing::AsNobody;
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

}  // namespace

TEST_CASE("a readable database opens and proves it can read") {
  TempDir dir;
  testing::MakeDatabase(dir.file("app.db"), 2);
  std::string before = ReadFile(dir.file("app.db"));
  {
    auto cursor = SqliteCursor::OpenReadOnly(testing::CursorSettings(dir.file("app.db")),
                                             Deadline::FromNow(2000));
    REQUIRE_MESSAGE(cursor.ok(), cursor.status().message());
    CHECK(Truthy(*cursor.value(), "SELECT count(*) FROM failed_jobs"));
    CHECK(testing::OpenDescriptorsOn(dir.file("app.db")) == 1);
  }
  // No lock outlives a request (the connection kept for the next check
  // holds none).
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

TEST_CASE("a folder where the database should be fails") {
  TempDir dir;
  CHECK(testing::CheckCursor(dir.path()) ==
        "cannot open \"" + dir.path() + "\": disk I/O error (Is a directory)");
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
  auto start = std::chrono::steady_clock::now();
  auto cursor =
      SqliteCursor::OpenReadOnly(testing::CursorSettings(path, 10000), Deadline::FromNow(200));
  CHECK_FALSE(cursor.ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500));
}

TEST_CASE("no read permission fails (checked as an unprivileged user)") {
  TempDir dir;
  chmod(dir.path().c_str(), 0755);  // nobody may look inside, but not read the file.
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  chmod(path.c_str(), 0600);
  std::string before = ReadFile(path);
  std::string message = AsNobody([&path]() -> std::string {
    auto cursor =
        SqliteCursor::OpenReadOnly(testing::CursorSettings(path), Deadline::FromNow(2000));
    return cursor.ok() ? "opened" : cursor.status().message();
  });
  CHECK(message ==
        "cannot open \"" + path + "\": unable to open database file (Permission denied)");
  CHECK(ReadFile(path) == before);
  CHECK_FALSE(Exists(path + "-journal"));
}

TEST_CASE("a readable database in a folder nobody may write is still read (as nobody)") {
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  chmod(path.c_str(), 0644);
  std::string message = AsNobody([&path]() -> std::string {
    auto cursor =
        SqliteCursor::OpenReadOnly(testing::CursorSettings(path), Deadline::FromNow(2000));
    if (!cursor.ok()) return cursor.status().message();
    auto truthy = cursor.value()->FirstValueIsTruthy("SELECT count(*) FROM failed_jobs");
    if (!truthy.ok()) return truthy.status().message();
    return truthy.value() ? "truthy" : "falsy";
  });
  CHECK(message == "truthy");
}

TEST_CASE("truthiness of the first column of the first row, as in Python") {
  TempDir dir;
  testing::MakeDatabase(dir.file("app.db"), 1);
  auto opened = SqliteCursor::OpenReadOnly(testing::CursorSettings(dir.file("app.db")),
                                           Deadline::FromNow(5000));
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
  CHECK_FALSE(Truthy(cursor, "SELECT 1 WHERE 0"));
  CHECK_FALSE(Truthy(cursor, "SELECT count(*) = 0 FROM failed_jobs"));
  CHECK(Truthy(cursor, "SELECT 1;  "));
}

TEST_CASE("queries must be one read-only statement") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  std::string before = ReadFile(path);
  {
    auto opened =
        SqliteCursor::OpenReadOnly(testing::CursorSettings(path), Deadline::FromNow(5000));
    REQUIRE(opened.ok());
    SqliteCursor& cursor = *opened.value();
    auto two = cursor.FirstValueIsTruthy("SELECT 1; DELETE FROM failed_jobs");
    REQUIRE_FALSE(two.ok());
    CHECK(two.status().message() == "the query must be a single statement");
    auto write = cursor.FirstValueIsTruthy("DELETE FROM failed_jobs");
    REQUIRE_FALSE(write.ok());
    CHECK(write.status().message() == "the query must only read (a SELECT)");
    auto vacuum = cursor.FirstValueIsTruthy("VACUUM INTO '" + dir.file("copy.db") + "'");
    CHECK_FALSE(vacuum.ok());
    auto attach = cursor.FirstValueIsTruthy("ATTACH '" + dir.file("other.db") + "' AS other");
    CHECK_FALSE(attach.ok());
    auto bad = cursor.FirstValueIsTruthy("SELECT nope FROM nowhere");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message() == "cannot read \"" + path + "\": no such table: nowhere");
  }
  CHECK(ReadFile(path) == before);
  CHECK_FALSE(Exists(dir.file("copy.db")));
  CHECK_FALSE(Exists(dir.file("other.db")));
}

TEST_CASE("a query running past the deadline is interrupted") {
  TempDir dir;
  testing::MakeDatabase(dir.file("app.db"));
  auto opened = SqliteCursor::OpenReadOnly(testing::CursorSettings(dir.file("app.db")),
                                           Deadline::FromNow(100));
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
      auto cursor =
          SqliteCursor::OpenReadOnly(testing::CursorSettings(path), Deadline::FromNow(2000));
      REQUIRE_MESSAGE(cursor.ok(), cursor.status().message());
      CHECK_FALSE(Truthy(*cursor.value(), "SELECT count(*) FROM failed_jobs"));
    }
    CHECK_FALSE(Exists(path + "-wal"));
    CHECK_FALSE(Exists(path + "-shm"));
    CHECK(ReadFile(path) == before);
  }
}

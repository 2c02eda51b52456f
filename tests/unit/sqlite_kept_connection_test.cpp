// The connection a thread keeps between checks: reused only while the path
// still names the same readable rollback-journal file, and never trusted to
// say no. Every case first passes a check, so that a connection is kept,
// then changes the file under it.
#include "../../src/backends/sqlite_warm_connection.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "../../src/backends/sqlite_cursor.h"
#include "database_fixtures.h"
#include "test_support.h"

using namespace healthcheck;
using testing::Exists;
using testing::TempDir;

namespace {

// The sql callable's view: the first value of `sql`, or the error.
std::string Query(const std::string& path, const std::string& sql) {
  auto cursor = SqliteCursor::OpenReadOnly(testing::CursorSettings(path), Deadline::FromNow(2000));
  if (!cursor.ok()) return cursor.status().message();
  auto truthy = cursor.value()->FirstValueIsTruthy(sql);
  if (!truthy.ok()) return truthy.status().message();
  return truthy.value() ? "truthy" : "falsy";
}

}  // namespace

TEST_CASE("checks on one thread share one kept connection, which holds no lock") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  for (int request = 0; request < 5; ++request) {
    REQUIRE(testing::CheckCursor(path) == "ok");
    CHECK(testing::OpenDescriptorsOn(path) == 1);
    CHECK(testing::NobodyHoldsALock(path));
  }
}

TEST_CASE("a database deleted after a check fails the next check") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  REQUIRE(testing::CheckCursor(path) == "ok");
  REQUIRE(unlink(path.c_str()) == 0);
  CHECK(testing::CheckCursor(path) ==
        "cannot open \"" + path + "\": unable to open database file (No such file or directory)");
  CHECK_FALSE(Exists(path));
}

TEST_CASE("a database replaced after a check is read anew") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 0);
  REQUIRE(Query(path, "SELECT count(*) FROM failed_jobs") == "falsy");
  testing::MakeDatabase(dir.file("new.db"), 3);
  REQUIRE(rename(dir.file("new.db").c_str(), path.c_str()) == 0);
  CHECK(Query(path, "SELECT count(*) FROM failed_jobs") == "truthy");

  testing::WriteFile(dir.file("junk"), std::string(4096, 'x'));
  REQUIRE(rename(dir.file("junk").c_str(), path.c_str()) == 0);
  CHECK(testing::CheckCursor(path) == "cannot read \"" + path + "\": file is not a database");
}

TEST_CASE("a database overwritten in place after a check is read anew") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  REQUIRE(testing::CheckCursor(path) == "ok");
  // Same inode, header destroyed: only a fresh read of page 1 notices.
  testing::OverwriteAt(path, 0, "not an sqlite header");
  CHECK(testing::CheckCursor(path) == "cannot read \"" + path + "\": file is not a database");
}

TEST_CASE("a table page corrupted in place after a query is read from the file again") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 2);
  REQUIRE(Query(path, "SELECT count(*) FROM failed_jobs") == "truthy");
  // Page 2 is failed_jobs' root page; the header, and so the change counter,
  // stay as they were: only the file itself shows the damage.
  testing::OverwriteAt(path, testing::kFixturePageBytes, "\xff\xff\xff\xff");
  CHECK(Query(path, "SELECT count(*) FROM failed_jobs") ==
        "cannot read \"" + path + "\": database disk image is malformed");
}

TEST_CASE("a database locked after a check fails the next check as locked") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  REQUIRE(testing::CheckCursor(path) == "ok");
  {
    testing::ExclusiveLockHolder lock(path);
    CHECK(testing::CheckCursor(path, 100) == "cannot read \"" + path + "\": database is locked");
  }
  CHECK(testing::CheckCursor(path) == "ok");
}

TEST_CASE("read permission taken away after a check fails the next check (as nobody)") {
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  REQUIRE(chown(path.c_str(), 65534, 65534) == 0);  // nobody's file, so nobody may chmod it.
  std::string answers = testing::AsNobody([&path]() -> std::string {
    std::string first = testing::CheckCursor(path);
    if (chmod(path.c_str(), 0200) != 0) return "chmod failed";
    return first + " | " + testing::CheckCursor(path);
  });
  CHECK(answers ==
        "ok | cannot open \"" + path + "\": unable to open database file (Permission denied)");
}

TEST_CASE("a database switched to WAL after a check is read without creating -wal or -shm") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  REQUIRE(Query(path, "SELECT count(*) FROM failed_jobs") == "truthy");
  testing::SwitchToWalAndEmpty(path);
  REQUIRE_FALSE(Exists(path + "-wal"));
  CHECK(Query(path, "SELECT count(*) FROM failed_jobs") == "falsy");
  CHECK_FALSE(Exists(path + "-wal"));
  CHECK_FALSE(Exists(path + "-shm"));
  // A WAL database is opened for each check, never kept.
  CHECK(testing::OpenDescriptorsOn(path) == 0);
}

TEST_CASE("a failed query does not leave its connection kept") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  REQUIRE(testing::CheckCursor(path) == "ok");
  CHECK(Query(path, "SELECT * FROM no_such_table") ==
        "cannot read \"" + path + "\": no such table: no_such_table");
  CHECK(testing::OpenDescriptorsOn(path) == 0);
}

TEST_CASE("file identity: found, same file through another path, and missing") {
  TempDir dir;
  testing::MakeDatabase(dir.file("app.db"));
  REQUIRE(symlink(dir.file("app.db").c_str(), dir.file("link.db").c_str()) == 0);
  FileIdentity direct = IdentifyFile(dir.file("app.db"));
  CHECK(direct.found);
  CHECK(direct == IdentifyFile(dir.file("link.db")));
  FileIdentity missing = IdentifyFile(dir.file("missing.db"));
  CHECK_FALSE(missing.found);
  CHECK_FALSE(missing == missing);  // Nothing is the same as a missing file.
  // Just written: a write in the same clock tick could leave every time as
  // it is, so nothing can be known to be unchanged yet.
  CHECK_FALSE(direct.settled);
  CHECK_FALSE(UnchangedSince(direct, IdentifyFile(dir.file("app.db"))));
}

// The cases above change files just made, which are never settled, so
// every check re-validates. These let the files settle first, so that the
// first check records a settled state and only a change can undo it.
TEST_CASE("once a file has settled, every kind of change is still seen") {
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  const std::string unchanged = dir.file("unchanged.db");
  const std::string deleted = dir.file("deleted.db");
  const std::string corrupted = dir.file("corrupted.db");
  const std::string backdated = dir.file("backdated.db");
  const std::string to_wal = dir.file("to_wal.db");
  const std::string unreadable = dir.file("unreadable.db");
  for (const std::string& path : {unchanged, deleted, corrupted, backdated, to_wal, unreadable}) {
    testing::MakeDatabase(path, 1);
  }
  REQUIRE(chown(unreadable.c_str(), 65534, 65534) == 0);
  std::this_thread::sleep_for(std::chrono::seconds(kSettledAfterSeconds) +
                              std::chrono::milliseconds(100));

  {
    INFO("unchanged: the kept connection serves, and the state is recognised");
    FileIdentity first = IdentifyFile(unchanged);
    CHECK(first.settled);
    CHECK(UnchangedSince(first, IdentifyFile(unchanged)));
    // An old mtime is not enough: a chmod just now makes the file unsettled.
    REQUIRE(chmod(unchanged.c_str(), 0640) == 0);
    FileIdentity chmodded = IdentifyFile(unchanged);
    CHECK_FALSE(chmodded.settled);
    CHECK_FALSE(UnchangedSince(first, chmodded));
    for (int request = 0; request < 3; ++request) {
      CHECK(Query(unchanged, "SELECT count(*) FROM failed_jobs") == "truthy");
      CHECK(testing::OpenDescriptorsOn(unchanged) == 1);
      CHECK(testing::NobodyHoldsALock(unchanged));
    }
  }
  {
    INFO("deleted");
    REQUIRE(testing::CheckCursor(deleted) == "ok");
    REQUIRE(unlink(deleted.c_str()) == 0);
    CHECK(testing::CheckCursor(deleted) ==
          "cannot open \"" + deleted +
              "\": unable to open database file (No such file or directory)");
  }
  {
    INFO("a table page corrupted in place");
    REQUIRE(Query(corrupted, "SELECT count(*) FROM failed_jobs") == "truthy");
    testing::OverwriteAt(corrupted, testing::kFixturePageBytes, "\xff\xff\xff\xff");
    CHECK(Query(corrupted, "SELECT count(*) FROM failed_jobs") ==
          "cannot read \"" + corrupted + "\": database disk image is malformed");
  }
  {
    INFO("the header overwritten, then the old mtime put back");
    REQUIRE(testing::CheckCursor(backdated) == "ok");
    struct stat before;
    REQUIRE(stat(backdated.c_str(), &before) == 0);
    testing::OverwriteAt(backdated, 0, "not an sqlite header");
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    REQUIRE(utimensat(AT_FDCWD, backdated.c_str(), times, 0) == 0);  // ctime still moves.
    CHECK(testing::CheckCursor(backdated) ==
          "cannot read \"" + backdated + "\": file is not a database");
  }
  {
    INFO("switched to WAL");
    REQUIRE(Query(to_wal, "SELECT count(*) FROM failed_jobs") == "truthy");
    testing::SwitchToWalAndEmpty(to_wal);
    CHECK(Query(to_wal, "SELECT count(*) FROM failed_jobs") == "falsy");
    CHECK_FALSE(Exists(to_wal + "-wal"));
    CHECK_FALSE(Exists(to_wal + "-shm"));
  }
  {
    INFO("read permission taken away (as nobody)");
    std::string answers = testing::AsNobody([&unreadable]() -> std::string {
      std::string first = testing::CheckCursor(unreadable);
      if (chmod(unreadable.c_str(), 0200) != 0) return "chmod failed";
      return first + " | " + testing::CheckCursor(unreadable);
    });
    CHECK(answers == "ok | cannot open \"" + unreadable +
                         "\": unable to open database file (Permission denied)");
  }
}

// The connection a worker keeps between requests in its WorkerContext:
// reused only while the path still names the same readable rollback-journal
// file, never trusted to say no, and dropped at the end of a request unless
// it is fit to keep. Every case first passes a check on a worker, so that a
// connection is kept, then changes the file under it and asks again on the
// same worker, as the worker's next request would.
#include "../../src/backends/sqlite_kept_connection.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "../../src/backends/sqlite_cursor.h"
#include "../../src/worker_context.h"
#include "database_fixtures.h"
#include "test_support.h"

using namespace healthcheck;
using testing::Exists;
using testing::Query;
using testing::TempDir;

namespace {

// The connection `worker` keeps for the database at `path`, or null.
SqliteKeptConnection* Kept(WorkerContext& worker, const std::string& path) {
  return dynamic_cast<SqliteKeptConnection*>(worker.kept(SqliteKeptConnectionName(path)).get());
}

// Marks a connection with a limit no new connection has, so that a later
// request can tell the very same connection from a new one (comparing
// addresses could not: a new one may be allocated where the old one was).
constexpr int kTaggedVariableLimit = 777;

void Tag(SqliteKeptConnection* kept) {
  REQUIRE(kept != nullptr);
  sqlite3_limit(kept->db(), SQLITE_LIMIT_VARIABLE_NUMBER, kTaggedVariableLimit);
}

bool IsTagged(SqliteKeptConnection* kept) {
  return kept != nullptr &&
         sqlite3_limit(kept->db(), SQLITE_LIMIT_VARIABLE_NUMBER, -1) == kTaggedVariableLimit;
}

struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

}  // namespace

TEST_CASE("requests on one worker share one kept connection, which holds no lock between them") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  WorkerContext worker;
  REQUIRE(testing::CheckCursor(path, worker) == "ok");
  Tag(Kept(worker, path));
  for (int request = 0; request < 4; ++request) {
    REQUIRE(testing::CheckCursor(path, worker) == "ok");
    CHECK(IsTagged(Kept(worker, path)));
    CHECK(testing::OpenDescriptorsOn(path) == 1);
    CHECK(testing::NobodyHoldsALock(path));
    CHECK(testing::AnotherProcessCanWrite(path));
  }
}

TEST_CASE("a worker's kept connection closes with the worker; another worker opens its own") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  {
    WorkerContext first;
    REQUIRE(testing::CheckCursor(path, first) == "ok");
    Tag(Kept(first, path));
    WorkerContext second;
    REQUIRE(testing::CheckCursor(path, second) == "ok");
    REQUIRE(Kept(second, path) != nullptr);
    CHECK_FALSE(IsTagged(Kept(second, path)));
    CHECK(testing::OpenDescriptorsOn(path) == 2);
  }
  CHECK(testing::OpenDescriptorsOn(path) == 0);
}

TEST_CASE("a database deleted after a check fails the next check") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  WorkerContext worker;
  REQUIRE(testing::CheckCursor(path, worker) == "ok");
  REQUIRE(Kept(worker, path) != nullptr);
  REQUIRE(unlink(path.c_str()) == 0);
  CHECK(testing::CheckCursor(path, worker) ==
        "cannot open \"" + path + "\": unable to open database file (No such file or directory)");
  CHECK_FALSE(Exists(path));
  CHECK(Kept(worker, path) == nullptr);
}

TEST_CASE("a database replaced after a check is read anew, on a new connection") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 0);
  WorkerContext worker;
  REQUIRE(Query(path, worker, "SELECT count(*) FROM failed_jobs") == "falsy");
  Tag(Kept(worker, path));
  testing::MakeDatabase(dir.file("new.db"), 3);
  REQUIRE(rename(dir.file("new.db").c_str(), path.c_str()) == 0);
  CHECK(Query(path, worker, "SELECT count(*) FROM failed_jobs") == "truthy");
  REQUIRE(Kept(worker, path) != nullptr);
  CHECK_FALSE(IsTagged(Kept(worker, path)));

  testing::WriteFile(dir.file("junk"), std::string(4096, 'x'));
  REQUIRE(rename(dir.file("junk").c_str(), path.c_str()) == 0);
  CHECK(testing::CheckCursor(path, worker) ==
        "cannot read \"" + path + "\": file is not a database");
}

TEST_CASE("a database overwritten in place after a check is read anew") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  WorkerContext worker;
  REQUIRE(testing::CheckCursor(path, worker) == "ok");
  REQUIRE(Kept(worker, path) != nullptr);
  // Same inode, header destroyed: only a fresh read of page 1 notices.
  testing::OverwriteAt(path, 0, "not an sqlite header");
  CHECK(testing::CheckCursor(path, worker) ==
        "cannot read \"" + path + "\": file is not a database");
}

TEST_CASE("a database truncated to nothing in place after a check fails as empty") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  WorkerContext worker;
  REQUIRE(testing::CheckCursor(path, worker) == "ok");
  REQUIRE(Kept(worker, path) != nullptr);
  ino_t inode = testing::FileInode(path);
  REQUIRE(truncate(path.c_str(), 0) == 0);
  REQUIRE(testing::FileInode(path) == inode);  // The same file the connection has open.
  const std::string kEmpty =
      "cannot read \"" + path + "\": the file is empty, not an SQLite database";
  CHECK(testing::CheckCursor(path, worker) == kEmpty);
  CHECK(Query(path, worker, "SELECT 1") == kEmpty);
  CHECK(testing::ReadFile(path).empty());
  CHECK_FALSE(Exists(path + "-journal"));
}

TEST_CASE("a table page corrupted in place after a query is read from the file again") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 2);
  WorkerContext worker;
  REQUIRE(Query(path, worker, "SELECT count(*) FROM failed_jobs") == "truthy");
  REQUIRE(Kept(worker, path) != nullptr);
  // Page 2 is failed_jobs' root page; the header, and so the change counter,
  // stay as they were: only the file itself shows the damage.
  testing::OverwriteAt(path, testing::kFixturePageBytes, "\xff\xff\xff\xff");
  CHECK(Query(path, worker, "SELECT count(*) FROM failed_jobs") ==
        "cannot read \"" + path + "\": database disk image is malformed");
}

TEST_CASE("a database locked after a check fails the next check as locked") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  WorkerContext worker;
  REQUIRE(testing::CheckCursor(path, worker) == "ok");
  REQUIRE(Kept(worker, path) != nullptr);
  {
    testing::ExclusiveLockHolder lock(path);
    CHECK(testing::CheckCursor(path, worker, 100) ==
          "cannot read \"" + path + "\": database is locked");
  }
  CHECK(testing::CheckCursor(path, worker) == "ok");
}

TEST_CASE("a kept connection waits for a lock by its current request's busy timeout") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  WorkerContext worker;
  // The first request, which opens the connection, would wait 5 s.
  REQUIRE(testing::CheckCursor(path, worker, 5000) == "ok");
  Tag(Kept(worker, path));
  testing::ExclusiveLockHolder lock(path);
  auto start = std::chrono::steady_clock::now();
  auto cursor = SqliteCursor::OpenReadOnly(testing::CursorSettings(path, 200),
                                           Deadline::FromNow(5000), worker);
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(cursor.ok());
  CHECK(cursor.status().message() == "cannot read \"" + path + "\": database is locked");
  CHECK(waited >= std::chrono::milliseconds(180));
  CHECK(waited < std::chrono::milliseconds(900));
  worker.EndRequest();
}

TEST_CASE("read permission taken away after a check fails the next check (unprivileged)") {
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  testing::GiveToUnprivileged(path);  // So that the unprivileged child may chmod it.
  std::string answers = testing::AsUnprivileged([&path]() -> std::string {
    WorkerContext worker;
    std::string first = testing::CheckCursor(path, worker);
    if (Kept(worker, path) == nullptr) return first + " (nothing kept)";
    if (chmod(path.c_str(), 0200) != 0) return "chmod failed";
    return first + " | " + testing::CheckCursor(path, worker);
  });
  CHECK(answers ==
        "ok | cannot open \"" + path + "\": unable to open database file (Permission denied)");
}

TEST_CASE("a database switched to WAL after a check is read without creating -wal or -shm") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  WorkerContext worker;
  REQUIRE(Query(path, worker, "SELECT count(*) FROM failed_jobs") == "truthy");
  REQUIRE(Kept(worker, path) != nullptr);
  testing::SwitchToWalAndEmpty(path);
  REQUIRE_FALSE(Exists(path + "-wal"));
  CHECK(Query(path, worker, "SELECT count(*) FROM failed_jobs") == "falsy");
  CHECK_FALSE(Exists(path + "-wal"));
  CHECK_FALSE(Exists(path + "-shm"));
  // A WAL database is opened for each request, never kept.
  CHECK(Kept(worker, path) == nullptr);
  CHECK(testing::OpenDescriptorsOn(path) == 0);
}

TEST_CASE("a failed query does not leave its connection kept") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path);
  WorkerContext worker;
  REQUIRE(testing::CheckCursor(path, worker) == "ok");
  REQUIRE(Kept(worker, path) != nullptr);
  CHECK(Query(path, worker, "SELECT * FROM no_such_table") ==
        "cannot read \"" + path + "\": no such table: no_such_table");
  CHECK(Kept(worker, path) == nullptr);
  CHECK(testing::OpenDescriptorsOn(path) == 0);
}

TEST_CASE("a connection is fit to keep after a clean SELECT, not inside a read transaction") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 1);
  WorkerContext worker;
  REQUIRE(Query(path, worker, "SELECT count(*) FROM failed_jobs") == "truthy");
  SqliteKeptConnection* kept = Kept(worker, path);
  REQUIRE(kept != nullptr);
  CHECK(kept->FitToKeep());
  // What a statement that slipped past the cursor could leave behind: a
  // transaction that holds the shared lock after its SELECT is done.
  REQUIRE(sqlite3_exec(kept->db(), "BEGIN; SELECT count(*) FROM failed_jobs;", nullptr, nullptr,
                       nullptr) == SQLITE_OK);
  REQUIRE_FALSE(testing::NobodyHoldsALock(path));
  CHECK_FALSE(kept->FitToKeep());
  worker.EndRequest();
  CHECK(Kept(worker, path) == nullptr);
  CHECK(testing::NobodyHoldsALock(path));
  CHECK(testing::OpenDescriptorsOn(path) == 0);
}

TEST_CASE("a connection with a statement still running is not fit to keep") {
  TempDir dir;
  std::string path = dir.file("app.db");
  testing::MakeDatabase(path, 2);
  WorkerContext worker;
  REQUIRE(testing::CheckCursor(path, worker) == "ok");
  SqliteKeptConnection* kept = Kept(worker, path);
  REQUIRE(kept != nullptr);
  REQUIRE(kept->FitToKeep());
  sqlite3_stmt* raw = nullptr;
  REQUIRE(sqlite3_prepare_v2(kept->db(), "SELECT id FROM failed_jobs", -1, &raw, nullptr) ==
          SQLITE_OK);
  Statement statement(raw);  // Finalized before the worker goes, whatever happens.
  REQUIRE(sqlite3_step(statement.get()) == SQLITE_ROW);  // One of two rows: still running.
  CHECK_FALSE(kept->FitToKeep());
  sqlite3_reset(statement.get());
  CHECK(kept->FitToKeep());  // Done with, the same connection is fit again.
  REQUIRE(sqlite3_step(statement.get()) == SQLITE_ROW);
  worker.EndRequest();
  CHECK(Kept(worker, path) == nullptr);
  statement.reset();  // The closed connection goes with its last statement.
  CHECK(testing::OpenDescriptorsOn(path) == 0);
  CHECK(testing::NobodyHoldsALock(path));
}

TEST_CASE("file identity: found, same file through another path, and missing") {
  TempDir dir;
  testing::MakeDatabase(dir.file("app.db"));
  REQUIRE(symlink(dir.file("app.db").c_str(), dir.file("link.db").c_str()) == 0);
  testing::MakeDatabase(dir.file("other.db"));
  FileIdentity direct = IdentifyFile(dir.file("app.db"));
  CHECK(direct.found);
  CHECK(direct == IdentifyFile(dir.file("link.db")));
  CHECK_FALSE(direct == IdentifyFile(dir.file("other.db")));
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
  testing::GiveToUnprivileged(unreadable);
  std::this_thread::sleep_for(std::chrono::seconds(kSettledAfterSeconds) +
                              std::chrono::milliseconds(100));

  {
    INFO("unchanged: the kept connection serves, and the state is recognised");
    FileIdentity first = IdentifyFile(unchanged);
    CHECK(first.settled);
    CHECK(UnchangedSince(first, IdentifyFile(unchanged)));
    WorkerContext worker;
    REQUIRE(Query(unchanged, worker, "SELECT count(*) FROM failed_jobs") == "truthy");
    Tag(Kept(worker, unchanged));
    for (int request = 0; request < 3; ++request) {
      CHECK(Query(unchanged, worker, "SELECT count(*) FROM failed_jobs") == "truthy");
      CHECK(IsTagged(Kept(worker, unchanged)));
      CHECK(testing::OpenDescriptorsOn(unchanged) == 1);
      CHECK(testing::NobodyHoldsALock(unchanged));
    }
    // An old mtime is not enough: a chmod just now makes the file unsettled.
    REQUIRE(chmod(unchanged.c_str(), 0640) == 0);
    FileIdentity chmodded = IdentifyFile(unchanged);
    CHECK_FALSE(chmodded.settled);
    CHECK_FALSE(UnchangedSince(first, chmodded));
  }
  {
    INFO("deleted");
    WorkerContext worker;
    REQUIRE(testing::CheckCursor(deleted, worker) == "ok");
    REQUIRE(Kept(worker, deleted) != nullptr);
    REQUIRE(unlink(deleted.c_str()) == 0);
    CHECK(testing::CheckCursor(deleted, worker) ==
          "cannot open \"" + deleted +
              "\": unable to open database file (No such file or directory)");
  }
  {
    INFO("a table page corrupted in place");
    WorkerContext worker;
    REQUIRE(Query(corrupted, worker, "SELECT count(*) FROM failed_jobs") == "truthy");
    REQUIRE(Kept(worker, corrupted) != nullptr);
    testing::OverwriteAt(corrupted, testing::kFixturePageBytes, "\xff\xff\xff\xff");
    CHECK(Query(corrupted, worker, "SELECT count(*) FROM failed_jobs") ==
          "cannot read \"" + corrupted + "\": database disk image is malformed");
  }
  {
    INFO("the header overwritten, then the old mtime put back");
    WorkerContext worker;
    REQUIRE(testing::CheckCursor(backdated, worker) == "ok");
    REQUIRE(Kept(worker, backdated) != nullptr);
    struct stat before;
    REQUIRE(stat(backdated.c_str(), &before) == 0);
    testing::OverwriteAt(backdated, 0, "not an sqlite header");
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    REQUIRE(utimensat(AT_FDCWD, backdated.c_str(), times, 0) == 0);  // ctime still moves.
    CHECK(testing::CheckCursor(backdated, worker) ==
          "cannot read \"" + backdated + "\": file is not a database");
  }
  {
    INFO("switched to WAL");
    WorkerContext worker;
    REQUIRE(Query(to_wal, worker, "SELECT count(*) FROM failed_jobs") == "truthy");
    REQUIRE(Kept(worker, to_wal) != nullptr);
    testing::SwitchToWalAndEmpty(to_wal);
    CHECK(Query(to_wal, worker, "SELECT count(*) FROM failed_jobs") == "falsy");
    CHECK_FALSE(Exists(to_wal + "-wal"));
    CHECK_FALSE(Exists(to_wal + "-shm"));
  }
  {
    INFO("read permission taken away (unprivileged)");
    std::string answers = testing::AsUnprivileged([&unreadable]() -> std::string {
      WorkerContext worker;
      std::string first = testing::CheckCursor(unreadable, worker);
      if (Kept(worker, unreadable) == nullptr) return first + " (nothing kept)";
      if (chmod(unreadable.c_str(), 0200) != 0) return "chmod failed";
      return first + " | " + testing::CheckCursor(unreadable, worker);
    });
    CHECK(answers == "ok | cannot open \"" + unreadable +
                         "\": unable to open database file (Permission denied)");
  }
}

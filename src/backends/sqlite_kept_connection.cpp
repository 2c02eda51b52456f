// SqliteKeptConnection, Connection and FileIdentity.
#include "sqlite_kept_connection.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "sqlite_header.h"

namespace healthcheck {
namespace {

// True when a WAL file, or a rollback journal, is open on `db`'s main database.
bool HasJournalOpen(sqlite3* db) {
  sqlite3_file* journal = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &journal) != SQLITE_OK) {
    return true;
  }
  return journal != nullptr && journal->pMethods != nullptr;
}

bool HasStatementRunning(sqlite3* db) {
  for (sqlite3_stmt* statement = sqlite3_next_stmt(db, nullptr); statement != nullptr;
       statement = sqlite3_next_stmt(db, statement)) {
    if (sqlite3_stmt_busy(statement)) return true;
  }
  return false;
}

bool SameTime(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

bool OlderThan(const struct timespec& time, const struct timespec& now, int seconds) {
  return now.tv_sec - time.tv_sec > seconds ||
         (now.tv_sec - time.tv_sec == seconds && now.tv_nsec >= time.tv_nsec);
}

}  // namespace

Connection::Connection(Connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      read_header_(std::exchange(other.read_header_, nullptr)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    Connection closing(std::move(*this));
    db_ = std::exchange(other.db_, nullptr);
    read_header_ = std::exchange(other.read_header_, nullptr);
  }
  return *this;
}

Connection::~Connection() {
  sqlite3_finalize(read_header_);
  sqlite3_close_v2(db_);
}

FileIdentity IdentifyFile(const std::string& path) {
  FileIdentity identity;
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return identity;
  identity.found = true;
  identity.regular = S_ISREG(info.st_mode);
  identity.device = info.st_dev;
  identity.inode = info.st_ino;
  identity.size = info.st_size;
  identity.modified = info.st_mtim;
  identity.changed = info.st_ctim;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  identity.settled = OlderThan(info.st_mtim, now, kSettledAfterSeconds) &&
                     OlderThan(info.st_ctim, now, kSettledAfterSeconds);
  return identity;
}

bool UnchangedSince(const FileIdentity& before, const FileIdentity& now) {
  return before == now && before.settled && before.size == now.size &&
         SameTime(before.modified, now.modified) && SameTime(before.changed, now.changed);
}

std::string SqliteKeptConnectionName(const std::string& path) { return "sqlite:" + path; }

bool SqliteKeptConnection::ReusableFor(const std::string& path, const FileIdentity& now) {
  if (db() == nullptr || path != path_ || !(identity_ == now)) return false;
  if (UnchangedSince(identity_, now)) return true;
  if (access(path.c_str(), R_OK) != 0 || ReadJournalMode(db()) != JournalMode::kRollback) {
    return false;
  }
  // Pages cached before the change may no longer be the file's.
  sqlite3_db_release_memory(db());
  return true;
}

void SqliteKeptConnection::Prove(const FileIdentity& identity) {
  proven_ = identity.found;
  identity_ = identity;
}

bool SqliteKeptConnection::FitToKeep() {
  sqlite3* handle = db();
  return proven_ && handle != nullptr && sqlite3_get_autocommit(handle) != 0 &&
         !HasStatementRunning(handle) && !HasJournalOpen(handle);
}

}  // namespace healthcheck

#include "sqlite_warm_connection.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "sqlite_header.h"

namespace healthcheck {
namespace {

// One per thread: a worker thread serves one request at a time, so its
// connection is never shared. Closed when the thread exits. (Thread-local
// rather than owned by the worker: dependency builders get no worker.)
struct Slot {
  Connection connection;
  std::string path;
  FileIdentity identity;
};
thread_local Slot slot;

// True when a WAL file, or a rollback journal, is open on `db`'s main database.
bool HasJournalOpen(sqlite3* db) {
  sqlite3_file* journal = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &journal) != SQLITE_OK) {
    return true;
  }
  return journal != nullptr && journal->pMethods != nullptr;
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

namespace warm_connection {

Connection Take(const std::string& path, const FileIdentity& now) {
  if (slot.connection.db() == nullptr) return Connection();
  bool usable = slot.path == path && slot.identity == now;
  if (usable && !UnchangedSince(slot.identity, now)) {
    usable = access(path.c_str(), R_OK) == 0 &&
             ReadJournalMode(slot.connection.db()) == JournalMode::kRollback;
    // Pages cached before the change may no longer be the file's.
    if (usable) sqlite3_db_release_memory(slot.connection.db());
  }
  Connection taken = std::move(slot.connection);
  return usable ? std::move(taken) : Connection();
}

void Keep(Connection connection, const std::string& path, const FileIdentity& opened_on) {
  if (!opened_on.found || HasJournalOpen(connection.db())) return;  // Closes it.
  slot.connection = std::move(connection);
  slot.path = path;
  slot.identity = opened_on;
}

}  // namespace warm_connection
}  // namespace healthcheck

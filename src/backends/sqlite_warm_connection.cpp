#include "sqlite_warm_connection.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlite_header.h"

namespace healthcheck {
namespace {

// One per thread: a worker thread serves one request at a time, so its
// connection is never shared. Closed when the thread exits.
struct Slot {
  sqlite3* db = nullptr;
  std::string path;
  FileIdentity identity;

  void Close() {
    sqlite3_close_v2(db);
    db = nullptr;
  }
  ~Slot() { Close(); }
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

}  // namespace

FileIdentity IdentifyFile(const std::string& path) {
  FileIdentity identity;
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return identity;
  identity.found = true;
  identity.device = info.st_dev;
  identity.inode = info.st_ino;
  return identity;
}

namespace warm_connection {

sqlite3* Take(const std::string& path, const FileIdentity& now) {
  if (slot.db == nullptr) return nullptr;
  bool usable = slot.path == path && slot.identity == now && access(path.c_str(), R_OK) == 0 &&
                ReadJournalMode(slot.db) == JournalMode::kRollback;
  if (!usable) {
    slot.Close();
    return nullptr;
  }
  sqlite3* db = slot.db;
  slot.db = nullptr;
  return db;
}

void Keep(sqlite3* db, const std::string& path, const FileIdentity& opened_on) {
  if (!opened_on.found || HasJournalOpen(db)) {
    sqlite3_close_v2(db);
    return;
  }
  sqlite3_db_release_memory(db);
  slot.Close();
  slot.db = db;
  slot.path = path;
  slot.identity = opened_on;
}

}  // namespace warm_connection
}  // namespace healthcheck

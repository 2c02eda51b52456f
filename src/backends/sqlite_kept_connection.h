// The SQLite connection a worker keeps between checks of a rollback-journal
// database, in its WorkerContext, so that a check costs a read transaction
// instead of an open.
//
// Opening a connection is most of a cursor check's cost: Debian's SQLite
// registers its FTS3, FTS5, R-Tree and JSON functions on every connection,
// and the open and close take some twenty system calls. A kept connection
// holds no lock, no transaction and no unfinished statement between checks
// (FitToKeep). Before it is used again, the path must still name the same
// file (device and inode). Then:
//
// - if the file changed since the last check (size, mtime or ctime), or
//   had changed too recently to tell (see FileIdentity::settled), the file
//   must still be readable by this process and still in rollback-journal
//   mode, and the connection's page cache is emptied, so the check reads
//   the file as a new connection would;
// - if it has not changed, none of that can have changed either (a chmod,
//   chown or ACL change moves ctime; a write moves mtime), and the cached
//   pages are the file's: the check goes straight to its read transaction,
//   which still takes the shared lock and looks for a hot journal.
//
// WAL databases are never kept: an open WAL reader keeps the -shm file
// mapped, and would stop the application's last connection from
// checkpointing and removing the -wal file when it closes.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <string>

#include "../worker_context.h"

struct sqlite3;
struct sqlite3_stmt;

namespace healthcheck {

// Which file a path names at a moment (device and inode), and what stat(2)
// says of its state then.
struct FileIdentity {
  bool found = false;
  bool regular = false;  // A regular file (not a FIFO, device or folder).
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  struct timespec modified = {};
  struct timespec changed = {};
  // mtime and ctime were at least kSettledAfterSeconds old. File times
  // come from a coarse clock (a few milliseconds; seconds on some file
  // systems): a file written in the same tick as an earlier look keeps
  // its times, so only times older than that prove "unchanged since".
  bool settled = false;

  // The same file, whatever its state.
  bool operator==(const FileIdentity& other) const {
    return found && other.found && device == other.device && inode == other.inode;
  }
};

constexpr int kSettledAfterSeconds = 2;

FileIdentity IdentifyFile(const std::string& path);

// The same file, settled when `before` was taken, with the same size, mtime
// and ctime now: its contents, mode, owner and ACL are as they were.
bool UnchangedSince(const FileIdentity& before, const FileIdentity& now);

// An SQLite connection and the header read prepared on it; finalizes the
// statement and closes the connection when it goes.
class Connection {
 public:
  Connection() = default;
  explicit Connection(sqlite3* db) : db_(db) {}
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  sqlite3* db() const { return db_; }
  // Null until the cursor first prepares it.
  sqlite3_stmt*& read_header() { return read_header_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* read_header_ = nullptr;
};

// The name a connection to the database at `path` is kept under in a
// WorkerContext: one per file, whichever dependencies check it.
std::string SqliteKeptConnectionName(const std::string& path);

class SqliteKeptConnection : public KeptConnection {
 public:
  // `opened_on` is the path's identity, taken before the connection opened.
  SqliteKeptConnection(Connection connection, std::string path, const FileIdentity& opened_on)
      : connection_(std::move(connection)), path_(std::move(path)), identity_(opened_on) {}

  // Whether this connection may check `path`, whose identity is `now`
  // (taken before the call); see the file comment. Empties the page cache
  // when the file changed.
  bool ReusableFor(const std::string& path, const FileIdentity& now);

  sqlite3* db() const { return connection_.db(); }
  Connection& connection() { return connection_; }

  // What this request showed: proven, the connection may serve the next
  // request on `path` as it was at `identity`; else it is closed after it.
  void Prove(const FileIdentity& identity);
  void Disprove() { proven_ = false; }

  // A cursor is using it in this request: another dependency on the same
  // file needs a connection of its own.
  bool in_use() const { return in_use_; }
  void set_in_use(bool in_use) { in_use_ = in_use; }

  // Proven, in autocommit, no statement running, and no journal or WAL
  // open (a writer may have switched the file to WAL under it).
  bool FitToKeep() override;

 private:
  Connection connection_;
  std::string path_;
  FileIdentity identity_;
  bool proven_ = false;
  bool in_use_ = false;
};

}  // namespace healthcheck

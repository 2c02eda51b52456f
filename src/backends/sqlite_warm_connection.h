// A connection kept on each thread between checks of a rollback-journal
// database, so that a check costs a read transaction instead of an open.
//
// Opening a connection is most of a cursor check's cost: Debian's SQLite
// registers its FTS3, FTS5, R-Tree and JSON functions on every connection,
// and the open and close take some twenty system calls. A kept connection
// holds no lock and no transaction between checks; before it is used again
// the path must still name the same file, readable by this process, still
// in rollback-journal mode. Its page cache is emptied when it is kept, so
// each check reads the header page from the file again.
//
// WAL databases are never kept: an open WAL reader keeps the -shm file
// mapped, and would stop the application's last connection from
// checkpointing and removing the -wal file when it closes.
#pragma once

#include <sys/types.h>

#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace healthcheck {

// Which file a path names at a moment: device and inode.
struct FileIdentity {
  bool found = false;
  dev_t device = 0;
  ino_t inode = 0;

  bool operator==(const FileIdentity& other) const {
    return found && other.found && device == other.device && inode == other.inode;
  }
};

FileIdentity IdentifyFile(const std::string& path);

// A connection and its prepared header read (which may be null).
struct Connection {
  sqlite3* db = nullptr;
  sqlite3_stmt* read_header = nullptr;
};

// Finalizes the statement, then closes the connection.
void CloseConnection(Connection& connection);

namespace warm_connection {

// The thread's kept connection to `path`, if `now` (the path's identity
// taken before the call) is the file it was opened on, the file is still
// readable and still in rollback-journal mode; an empty Connection
// otherwise, having closed whatever the thread kept.
Connection Take(const std::string& path, const FileIdentity& now);

// Keeps `connection`, opened on `path` when the path named `opened_on`,
// for the next check on this thread, closing what the thread kept before.
// Closes it instead if it has a WAL or journal open (a writer switched the
// file to WAL between the header read and the lock).
void Keep(Connection connection, const std::string& path, const FileIdentity& opened_on);

}  // namespace warm_connection
}  // namespace healthcheck

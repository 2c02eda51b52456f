// What an SQLite file's 100-byte header says of its journal mode, read
// through the connection's own file handle.
#pragma once

struct sqlite3;

namespace healthcheck {

enum class JournalMode {
  kRollback,  // Read and write versions 1: a -journal, if anything.
  kWal,       // Versions 2: readers use the -wal and -shm files.
  kUnknown,   // Too short, not a database, or unreadable: SQLite will say.
};

// Reads the header of `db`'s main file without a lock. It goes through
// SQLite's own descriptor on purpose: opening and closing a second one in
// this process would drop every POSIX lock this process holds on the file,
// including a shared lock another thread's check is reading under.
JournalMode ReadJournalMode(sqlite3* db);

// The size in bytes of `db`'s main file, through the same descriptor; -1
// when it cannot be had.
long long MainFileBytes(sqlite3* db);

}  // namespace healthcheck

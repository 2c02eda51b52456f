// SqliteCursor: clearskies' cursor backend on an SQLite3 file. Each check
// proves, at request time, that the database is there, readable, not
// locked by a writer, not empty and a database: it opens it read-only
// (never creating it), or takes the worker's kept connection after checking
// the file is still the same one (sqlite_kept_connection.h), and reads the
// header page under a shared lock. Every wait for a lock ends at the busy
// timeout or the request's deadline, whichever comes first. No lock,
// transaction or statement outlives a request.
// sqlite3.h is included only by src/backends/sqlite_*.cpp.
#pragma once

#include <memory>
#include <string>

#include "../config.h"
#include "../container.h"
#include "cursor.h"
#include "sqlite_kept_connection.h"

namespace healthcheck {

class SqliteCursor : public Cursor {
 public:
  // Checks `settings.database` on the connection `worker` keeps for it, or
  // on a new one that `worker` then owns.
  static Result<std::shared_ptr<SqliteCursor>> OpenReadOnly(const CursorBackendSettings& settings,
                                                            const Deadline& deadline,
                                                            WorkerContext& worker);
  ~SqliteCursor() override;
  SqliteCursor(const SqliteCursor&) = delete;
  SqliteCursor& operator=(const SqliteCursor&) = delete;

  // A query that is not a plain SELECT, WITH or VALUES is refused.
  Result<bool> FirstValueIsTruthy(const std::string& sql) override;
  Status CheckQuery(const std::string& sql) override;

 private:
  struct StatementCloser {
    void operator()(sqlite3_stmt* statement) const;
  };
  using Statement = std::unique_ptr<sqlite3_stmt, StatementCloser>;

  // Uses `connection`, which the worker's context owns and outlives the
  // request, and bounds its waits by `deadline`.
  SqliteCursor(SqliteKeptConnection& connection, const CursorBackendSettings& settings,
               const Deadline& deadline);
  // Uses a connection of its own, closed with the cursor.
  SqliteCursor(std::unique_ptr<SqliteKeptConnection> own, const CursorBackendSettings& settings,
               const Deadline& deadline);
  // Takes a shared lock and reads the database header: readable, a
  // database, not empty, not locked by a writer.
  Status ReadHeader();
  Result<bool> EvaluateFirstValue(const std::string& sql);
  // A prepared `sql`, or why it is not a check's query.
  Status PrepareQuery(const std::string& sql, Statement& statement);
  Status Explain(int code, const std::string& doing) const;
  // SQLite's busy handler: waits until the lock is free, the busy timeout
  // since the wait began, or the deadline.
  static int WaitForLock(void* cursor, int attempts);

  std::unique_ptr<SqliteKeptConnection> own_;  // Null when the worker's context owns it.
  SqliteKeptConnection& connection_;
  std::string path_;
  int64_t busy_timeout_ms_;
  Deadline deadline_;
  Deadline::Clock::time_point wait_started_;
  // A wait for a lock ended at its bound: another connection would only
  // wait again, past the busy timeout.
  bool gave_up_waiting_ = false;
};

// The sqlite CursorBuilder (cursor.h).
Result<std::shared_ptr<Cursor>> OpenSqliteCursor(const CursorBackendSettings& settings,
                                                 const Deadline& deadline, WorkerContext& worker);

// The container's builder for "cursor_backend".
Result<std::shared_ptr<Dependency>> BuildSqliteCursor(const CursorBackendSettings& settings,
                                                      const Deadline& deadline,
                                                      WorkerContext& worker);

}  // namespace healthcheck

// SqliteCursor: clearskies' cursor backend on an SQLite3 file. It opens the
// database read-only at request time, never creating it, waits on a locked
// database no longer than its busy timeout or the request's deadline, and
// proves it can read. Its connection closes when the request's container
// goes, so no lock outlives a request. The only file that includes sqlite3.h.
#pragma once

#include <memory>
#include <string>

#include "../config.h"
#include "../container.h"

struct sqlite3;

namespace healthcheck {

class SqliteCursor : public Dependency {
 public:
  // Opens `settings.database` and reads its header under a shared lock.
  static Result<std::shared_ptr<SqliteCursor>> OpenReadOnly(const CursorBackendSettings& settings,
                                                            const Deadline& deadline);
  ~SqliteCursor() override;
  SqliteCursor(const SqliteCursor&) = delete;
  SqliteCursor& operator=(const SqliteCursor&) = delete;

  // Runs `sql` and tells whether the first column of its first row is
  // truthy: not NULL, not zero, not empty. No row is falsy.
  Result<bool> FirstValueIsTruthy(const std::string& sql);

 private:
  SqliteCursor(sqlite3* db, std::string path, const Deadline& deadline);
  // Takes a shared lock and reads the database header: readable, a
  // database, not locked by a writer.
  Status ReadHeader();
  Status Explain(int code, const std::string& doing) const;

  sqlite3* db_;
  std::string path_;
  Deadline deadline_;
};

// The container's builder for "cursor_backend".
Result<std::shared_ptr<Dependency>> BuildSqliteCursor(const CursorBackendSettings& settings,
                                                      const Deadline& deadline);

}  // namespace healthcheck

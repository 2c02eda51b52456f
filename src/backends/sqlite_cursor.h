// SqliteCursor: clearskies' cursor backend on an SQLite3 file. Each check
// proves, at request time, that the database is there, readable, not
// locked by a writer and a database: it opens it read-only (never creating
// it), or takes the thread's kept connection after checking the file is
// still the same one (sqlite_warm_connection.h), and reads the header page
// under a shared lock, waiting on a locked database no longer than its
// busy timeout or the request's deadline. No lock outlives a request.
// sqlite3.h is included only by src/backends/sqlite_*.cpp.
#pragma once

#include <memory>
#include <string>

#include "../config.h"
#include "../container.h"
#include "sqlite_warm_connection.h"

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
  SqliteCursor(Connection connection, std::string path, const Deadline& deadline);
  // sqlite3_open_v2 of `target` (the path or a URI), named `path` in errors.
  static Result<std::shared_ptr<SqliteCursor>> Open(const std::string& target, int flags,
                                                    const std::string& path,
                                                    const Deadline& deadline);
  // A new connection; `identity` is the path's, taken before opening.
  static Result<std::shared_ptr<SqliteCursor>> OpenNew(const CursorBackendSettings& settings,
                                                       const Deadline& deadline,
                                                       const FileIdentity& identity);
  // The busy timeout and the progress handler, for this request's deadline.
  void LimitTo(const CursorBackendSettings& settings);
  // Takes a shared lock and reads the database header: readable, a
  // database, not locked by a writer.
  Status ReadHeader();
  // The connection goes to the thread's warm slot instead of closing,
  // unless a query fails first.
  void KeepAfterwards(const FileIdentity& opened_on);
  Result<bool> EvaluateFirstValue(const std::string& sql);
  Status Explain(int code, const std::string& doing) const;

  Connection connection_;
  std::string path_;
  Deadline deadline_;
  bool keep_ = false;
  FileIdentity opened_on_;
};

// The container's builder for "cursor_backend".
Result<std::shared_ptr<Dependency>> BuildSqliteCursor(const CursorBackendSettings& settings,
                                                      const Deadline& deadline);

}  // namespace healthcheck

// Cursor: what the sql callable and --test-config need of cursor_backend,
// whichever driver serves it (SQLite, MariaDB/MySQL or PostgreSQL).
//
// Building a cursor proves the database at request time (for a server:
// connected, authenticated, the database selected and one round trip
// answered); the cursor then runs the sql callable's query in a read-only
// transaction that ends before the request does.
#pragma once

#include <memory>
#include <string>

#include "../config.h"
#include "../container.h"

namespace healthcheck {

class Cursor : public Dependency {
 public:
  // Runs `sql`, one read-only query returning a row, and tells whether the
  // first column of its first row is truthy: not NULL, not zero, not empty.
  virtual Result<bool> FirstValueIsTruthy(const std::string& sql) = 0;

  // Prepares `sql` without running it: ok when it is one query returning
  // columns, against this database's schema (--test-config).
  virtual Status CheckQuery(const std::string& sql) = 0;
};

// Opens a cursor on `settings`' database by `deadline`, on the connection
// `worker` keeps for it, or on a new one that `worker` then keeps.
using CursorBuilder = Result<std::shared_ptr<Cursor>> (*)(const CursorBackendSettings& settings,
                                                          const Deadline& deadline,
                                                          WorkerContext& worker);

// The builder for `driver` in this program, or null when it was built
// without that driver. SQLite is in every build; each network driver is in
// its own program, so that a process that does not use a client library
// never loads it (src/drivers/).
CursorBuilder LinkedCursorBuilder(DatabaseDriver driver);

}  // namespace healthcheck

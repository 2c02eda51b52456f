// LinkedCursorBuilder for one program. This file is compiled once per
// program, with the drivers that program links:
//   healthcheck             SQLite only (static: no client library at all)
//   healthcheck-mysql       -DHEALTHCHECK_WITH_MYSQL       (libmariadb)
//   healthcheck-postgresql  -DHEALTHCHECK_WITH_POSTGRESQL  (libpq)
//   the unit tests          both
// so that a process that does not use a client library never loads it.
#include "../backends/cursor.h"
#include "../backends/sqlite_cursor.h"

#ifdef HEALTHCHECK_WITH_MYSQL
#include "mysql_cursor.h"
#endif
#ifdef HEALTHCHECK_WITH_POSTGRESQL
#include "postgresql_cursor.h"
#endif

namespace healthcheck {

CursorBuilder LinkedCursorBuilder(DatabaseDriver driver) {
  switch (driver) {
    case DatabaseDriver::kSqlite:
      return OpenSqliteCursor;
#ifdef HEALTHCHECK_WITH_MYSQL
    case DatabaseDriver::kMysql:
      return OpenMysqlCursor;
#endif
#ifdef HEALTHCHECK_WITH_POSTGRESQL
    case DatabaseDriver::kPostgresql:
      return OpenPostgresqlCursor;
#endif
    default:
      return nullptr;
  }
}

}  // namespace healthcheck

// The mysql driver of cursor_backend: MariaDB and MySQL through libmariadb,
// linked into healthcheck-mysql only (driver_handover.h).
//
// A check proves the server at request time: a new connection is
// connected, authenticated and has the database selected; a connection the
// worker kept from an earlier check must first answer a round trip that
// selects the database again (which also proves the user may still use
// it). A kept connection that fails that is closed and replaced within the
// same check, so it can only ever say yes. Every wait is a poll(2) on
// libmariadb's non-blocking API, bounded by the check's deadline.
//
// The sql callable runs in START TRANSACTION READ ONLY, with the server's
// max_statement_time (MariaDB; max_execution_time on MySQL) set to a little
// less than the time left, so the server stops the query before the check
// answers. Afterwards the session is reset (COM_RESET_CONNECTION), so no
// lock, variable or temporary table a query took outlives its check.
#pragma once

#include <memory>

#include "../backends/cursor.h"

namespace healthcheck {

Result<std::shared_ptr<Cursor>> OpenMysqlCursor(const CursorBackendSettings& settings,
                                                const Deadline& deadline, WorkerContext& worker);

}  // namespace healthcheck

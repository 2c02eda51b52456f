// The postgresql driver of cursor_backend: PostgreSQL through libpq,
// linked into healthcheck-postgresql only (driver_handover.h).
#pragma once

#include <memory>

#include "../backends/cursor.h"

namespace healthcheck {

Result<std::shared_ptr<Cursor>> OpenPostgresqlCursor(const CursorBackendSettings& settings,
                                                     const Deadline& deadline, WorkerContext& worker);

}  // namespace healthcheck

// MakeSqlCallable.
#include "sql_callable.h"

#include "../backends/cursor.h"
#include "../config.h"

namespace healthcheck {

HealthCallable MakeSqlCallable(std::string sql) {
  return [sql = std::move(sql)](Container& container) -> Status {
    Result<std::shared_ptr<Cursor>> cursor =
        container.build_as<Cursor>(std::string(kCursorBackendName));
    if (!cursor.ok()) return cursor.status();
    Result<bool> truthy = cursor.value()->FirstValueIsTruthy(sql);
    if (!truthy.ok()) return truthy.status();
    return truthy.value() ? Status::Ok() : Status::Error("returned false");
  };
}

}  // namespace healthcheck

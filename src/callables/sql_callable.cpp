// MakeSqlCallable.
#include "sql_callable.h"

#include <stdexcept>

#include "../backends/sqlite_cursor.h"
#include "../config.h"

namespace healthcheck {

HealthCallable MakeSqlCallable(std::string sql) {
  return [sql = std::move(sql)](Container& container) {
    Result<std::shared_ptr<SqliteCursor>> cursor =
        container.build_as<SqliteCursor>(std::string(kCursorBackendName));
    if (!cursor.ok()) throw std::runtime_error(cursor.status().message());
    Result<bool> truthy = cursor.value()->FirstValueIsTruthy(sql);
    if (!truthy.ok()) throw std::runtime_error(truthy.status().message());
    return truthy.value();
  };
}

}  // namespace healthcheck

// The "sql" callable: runs a query on the cursor backend, which it asks the
// container for by name, and is healthy when the first column of the first
// row is truthy (not NULL, not zero, not empty).
#pragma once

#include <string>

#include "../health_check.h"

namespace healthcheck {

HealthCallable MakeSqlCallable(std::string sql);

}  // namespace healthcheck

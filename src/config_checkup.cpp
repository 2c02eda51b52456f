// FindConfigProblems.
#include "config_checkup.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/sqlite_cursor.h"
#include "deadline.h"
#include "system_users.h"
#include "worker_context.h"

namespace healthcheck {
namespace {

// The database and the query, on the connection a check would open.
void CheckDatabase(const Config& config, std::vector<std::string>& problems) {
  WorkerContext worker;
  const CursorBackendSettings& settings = *config.cursor_backend;
  Result<std::shared_ptr<SqliteCursor>> cursor =
      SqliteCursor::OpenReadOnly(settings, Deadline::FromNow(config.request_timeout_ms), worker);
  if (!cursor.ok()) {
    problems.push_back("cursor_backend.database: " + cursor.status().message());
    return;
  }
  if (config.callable.kind == CallableSettings::Kind::kSql) {
    Status query = cursor.value()->CheckQuery(config.callable.sql);
    if (!query.ok()) problems.push_back("callable.sql: " + query.message());
  }
}

void CheckCommand(const Config& config, std::vector<std::string>& problems) {
  const std::string& program = config.callable.command[0];
  struct stat info;
  std::string reason;
  if (stat(program.c_str(), &info) != 0) {
    reason = strerror(errno);
  } else if (!S_ISREG(info.st_mode)) {
    reason = "not a regular file";
  } else if (access(program.c_str(), X_OK) != 0) {
    reason = std::string("not executable (") + strerror(errno) + ")";
  }
  if (!reason.empty()) {
    problems.push_back("callable.command: cannot run \"" + program + "\": " + reason);
  }
}

}  // namespace

std::string RunningUserDescription() {
  uid_t uid = geteuid();
  std::optional<std::string> name = FindUserName(uid);
  std::string number = "uid " + std::to_string(uid);
  return name ? "user " + *name + " (" + number + ")" : number;
}

std::vector<std::string> FindConfigProblems(const Config& config) {
  std::vector<std::string> problems;
  if (config.cursor_backend) CheckDatabase(config, problems);
  if (config.callable.kind == CallableSettings::Kind::kCommand) CheckCommand(config, problems);
  if (!problems.empty()) {
    std::string who = "; as " + RunningUserDescription();
    for (std::string& problem : problems) problem += who;
  }
  return problems;
}

}  // namespace healthcheck

// FindConfigProblems.
#include "config_checkup.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/cursor.h"
#include "deadline.h"
#include "driver_handover.h"
#include "file_read.h"
#include "system_users.h"
#include "worker_context.h"

namespace healthcheck {
namespace {

// The database and the query, on the connection a check would open.
void CheckDatabase(const Config& config, std::vector<std::string>& problems) {
  WorkerContext worker;
  const CursorBackendSettings& settings = *config.cursor_backend;
  // main() has handed a configuration whose driver this program lacks to
  // the program that has it.
  CursorBuilder open = LinkedCursorBuilder(settings.driver);
  Status linked = CheckDriverLinked(config);
  if (!linked.ok()) {
    problems.push_back(linked.message());
    return;
  }
  Result<std::shared_ptr<Cursor>> cursor =
      open(settings, Deadline::FromNow(config.check.timeout_ms), worker);
  if (!cursor.ok()) {
    bool file = settings.driver == DatabaseDriver::kSqlite;
    problems.push_back(std::string(file ? "cursor_backend.database: " : "cursor_backend: ") +
                       cursor.status().message());
    return;
  }
  ForEachCheck(config, [&](const CheckSettings& check, const std::string& prefix) {
    if (check.callable.kind != CallableSettings::Kind::kSql) return;
    Status query = cursor.value()->CheckQuery(check.callable.sql);
    if (!query.ok()) problems.push_back(prefix + "callable.sql: " + query.message());
  });
}

// Why execve(2) would refuse `program`, as far as a look can tell; empty
// when it would start it.
std::string WhyNotRunnable(const std::string& program, int depth = 0) {
  struct stat info;
  if (stat(program.c_str(), &info) != 0) return strerror(errno);
  if (!S_ISREG(info.st_mode)) return "not a regular file";
  if (access(program.c_str(), X_OK) != 0) return std::string("not executable (") + strerror(errno) + ")";
  // The kernel starts an ELF binary, or a script through its #! line; the
  // command runs with execve, never through a shell.
  char head[256] = {};
  int fd = open(program.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::string("cannot read it (") + strerror(errno) + ")";
  ssize_t got = read(fd, head, sizeof head - 1);
  close(fd);
  if (got >= 4 && memcmp(head, "\x7f" "ELF", 4) == 0) return "";
  if (got < 2 || head[0] != '#' || head[1] != '!') {
    return "neither a program nor a script with a #! line";
  }
  std::string line(head + 2, strcspn(head + 2, "\n"));
  size_t start = line.find_first_not_of(" \t");
  if (start == std::string::npos) return "its #! line names no interpreter";
  std::string interpreter = line.substr(start, line.find_first_of(" \t", start) - start);
  if (depth > 0) return "";  // The kernel follows one #! (and a few more, at most).
  std::string why = WhyNotRunnable(interpreter, depth + 1);
  return why.empty() ? "" : "its interpreter " + interpreter + ": " + why;
}

void CheckCommands(const Config& config, std::vector<std::string>& problems) {
  ForEachCheck(config, [&problems](const CheckSettings& check, const std::string& prefix) {
    if (check.callable.kind != CallableSettings::Kind::kCommand) return;
    const std::string& program = check.callable.command[0];
    std::string reason = WhyNotRunnable(program);
    if (!reason.empty()) {
      problems.push_back(prefix + "callable.command: cannot run \"" + program + "\": " + reason);
    }
  });
}

// A drain file whose presence cannot be seen drains for good.
void CheckDrainFile(const std::string& path, std::vector<std::string>& problems) {
  struct stat info;
  if (stat(path.c_str(), &info) == 0 || errno == ENOENT || errno == ENOTDIR) return;
  problems.push_back("drain_file: cannot tell whether " + path + " exists (" + strerror(errno) +
                     "), so draining checks would always drain");
}

// Shared results need a folder this user may write and enter.
void CheckCacheFolder(const std::string& folder, std::vector<std::string>& problems) {
  struct stat info;
  if (stat(folder.c_str(), &info) != 0) {
    problems.push_back("cache_folder: " + folder + ": " + strerror(errno));
  } else if (!S_ISDIR(info.st_mode)) {
    problems.push_back("cache_folder: " + folder + ": not a folder");
  } else if ((info.st_mode & S_IWOTH) != 0) {
    problems.push_back("cache_folder: " + folder + ": others may write in it (mode " +
                       OctalMode(info.st_mode) +
                       "), so any local user could take the shared files' names first and "
                       "switch the shield off; use a folder of this user's own");
  } else if (access(folder.c_str(), W_OK | X_OK) != 0) {
    problems.push_back("cache_folder: " + folder + ": cannot write in it (" + strerror(errno) +
                       "), so every request would check alone");
  }
}

// Whether a request builds the cursor: a configured database that no
// check uses is never opened, and is no problem.
bool UsesDatabase(const Config& config) {
  bool used = false;
  ForEachCheck(config, [&used](const CheckSettings& check, const std::string&) {
    used = used || DatabaseKeyOf(check) != nullptr;
  });
  return used;
}

}  // namespace

std::string RunningUserDescription() {
  uid_t uid = geteuid();
  std::optional<std::string> name = FindUserName(uid);
  std::string number = "uid " + std::to_string(uid);
  return name && !name->empty() ? "user " + *name + " (" + number + ")" : number;
}

std::vector<std::string> FindConfigProblems(const Config& config) {
  std::vector<std::string> problems;
  if (config.cursor_backend && UsesDatabase(config)) CheckDatabase(config, problems);
  CheckCommands(config, problems);
  if (!config.drain_file.empty()) CheckDrainFile(config.drain_file, problems);
  if (!config.cache_folder.empty()) CheckCacheFolder(config.cache_folder, problems);
  if (!problems.empty()) {
    std::string who = "; as " + RunningUserDescription();
    for (std::string& problem : problems) problem += who;
  }
  return problems;
}

}  // namespace healthcheck

// CheckDriverLinked and HandOverToDriverProgram.
#include "driver_handover.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "backends/cursor.h"

namespace healthcheck {
namespace {

// Set by a hand-over, so that a driver's program that turns out not to
// have its driver (a copy of the wrong file) fails instead of handing over
// again, for ever.
constexpr const char* kHandedOverVariable = "HEALTHCHECK_HANDED_OVER";

// The folder this program was started from; empty when that cannot be
// told. Without /proc, argv[0] tells it only when it holds a path: a name
// found on PATH says nothing, and the working folder (under CGI, the
// script's) is no place to run a program from.
std::string ProgramFolder(char** argv) {
  char path[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
  std::string program = length > 0 ? std::string(path, static_cast<size_t>(length))
                                   : std::string(argv[0] != nullptr ? argv[0] : "");
  size_t slash = program.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : program.substr(0, slash);
}

}  // namespace

Status CheckDriverLinked(const Config& config) {
  if (!config.cursor_backend) return Status::Ok();
  DatabaseDriver driver = config.cursor_backend->driver;
  if (LinkedCursorBuilder(driver) != nullptr) return Status::Ok();
  return Status::Error(config.cursor_backend->where + ": \"cursor_backend.driver\": " +
                       DriverName(driver) + " is served by healthcheck-" + DriverName(driver) +
                       ", not by this program: restart to change to it");
}

Status HandOverToDriverProgram(const Config& config, char** argv) {
  if (CheckDriverLinked(config).ok()) return Status::Ok();
  const char* driver = DriverName(config.cursor_backend->driver);
  const std::string where = config.cursor_backend->where + ": \"cursor_backend.driver\": " + driver + ": ";
  std::string folder = ProgramFolder(argv);
  if (folder.empty()) {
    return Status::Error(where + "cannot tell which folder this program is in (no /proc), to start "
                         "healthcheck-" + driver + " from it; start healthcheck by its full path");
  }
  std::string program = folder + "/healthcheck-" + driver;
  if (getenv(kHandedOverVariable) != nullptr) {
    return Status::Error(where + program + " was started for it, but it has no " + driver +
                         " driver (a copy of another program?)");
  }
  setenv(kHandedOverVariable, driver, 1);
  execv(program.c_str(), argv);
  int error = errno;
  unsetenv(kHandedOverVariable);
  return Status::Error(where + "cannot start " + program + ", which serves it: " + strerror(error) +
                       (error == ENOENT ? " (install it beside this program: make install)" : ""));
}

}  // namespace healthcheck

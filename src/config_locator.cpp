// LocateConfig and the process's own search inputs.
#include "config_locator.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

namespace healthcheck {
namespace {

std::string FolderOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string RunningBinaryFolder() {
  char path[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
  if (length <= 0) return ".";
  return FolderOf(std::string(path, static_cast<size_t>(length)));
}

std::string BesideProgram(const ConfigSearch& search) {
  const std::string& folder = search.program_folder;
  return (folder == "/" ? "" : folder) + "/" + kConfigFileName;
}

}  // namespace

std::optional<std::string> LocateConfig(const ConfigSearch& search) {
  if (search.flag) return search.flag;
  if (search.environment && !search.environment->empty()) return search.environment;
  std::string beside = BesideProgram(search);
  // lstat: a link that leads nowhere is a file someone put there, and
  // loading it will say what is wrong; it is not "no configuration".
  struct stat info;
  if (lstat(beside.c_str(), &info) == 0) return beside;
  return std::nullopt;
}

ConfigSearch ProcessConfigSearch(const std::optional<std::string>& flag) {
  ConfigSearch search;
  search.flag = flag;
  if (const char* value = getenv(kConfigEnvironmentVariable)) search.environment = value;
  const char* script = getenv("SCRIPT_FILENAME");
  search.program_folder =
      (script != nullptr && script[0] == '/') ? FolderOf(script) : RunningBinaryFolder();
  return search;
}

Result<Config> LoadLocatedConfig(const ConfigSearch& search,
                                 const std::optional<std::string>& path) {
  if (path) return LoadConfig(*path);
  Config config;
  config.not_found_notice = NotFoundNotice(search);
  return config;
}

std::string NotFoundNotice(const ConfigSearch& search) {
  // Only the last place can be missing: a flag or variable that names a
  // missing file is an error, not an empty configuration.
  return std::string("healthcheck: no configuration found (no --config, $") +
         kConfigEnvironmentVariable + (search.environment ? " empty" : " not set") + ", no " +
         BesideProgram(search) + "): only the program itself is checked";
}

}  // namespace healthcheck

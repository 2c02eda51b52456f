// Which configuration file to use: --config FILE, else $HEALTHCHECK_CONFIG,
// else healthcheck.json beside the program (the shared-hosting case: a CGI
// binary in cgi-bin with its config next to it), else none.
#pragma once

#include <optional>
#include <string>

#include "config.h"
#include "status.h"

namespace healthcheck {

inline constexpr const char* kConfigFileName = "healthcheck.json";
inline constexpr const char* kConfigEnvironmentVariable = "HEALTHCHECK_CONFIG";

struct ConfigSearch {
  std::optional<std::string> flag;         // --config
  std::optional<std::string> environment;  // $HEALTHCHECK_CONFIG
  std::string program_folder;              // Where healthcheck.json may sit.
};

// The file to load, or nothing for the empty configuration.
std::optional<std::string> LocateConfig(const ConfigSearch& search);

// The search for this process: the flag, the environment, and the folder of
// the CGI script (SCRIPT_FILENAME, which keeps a symlink's folder) or else
// of the running binary.
ConfigSearch ProcessConfigSearch(const std::optional<std::string>& flag);

// Loads the located file, or returns the empty configuration, whose
// not_found_notice says where `search` looked.
Result<Config> LoadLocatedConfig(const ConfigSearch& search,
                                 const std::optional<std::string>& path);

// "healthcheck: no configuration found (...)": the places `search` tried.
std::string NotFoundNotice(const ConfigSearch& search);

}  // namespace healthcheck

// Config: the parsed configuration file, as plain structs. Parsing happens
// once, at the edge; nothing below it sees JSON.
//
//   { "services": ["memory_backend", "cursor_backend"],
//     "callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"},
//     "cursor_backend": {"database": "app.db", "timeout_ms": 1000},
//     "timeout_ms": 2000 }
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace healthcheck {

// The dependency names a configuration may list under "services".
inline constexpr std::string_view kMemoryBackendName = "memory_backend";
inline constexpr std::string_view kCursorBackendName = "cursor_backend";

inline constexpr int64_t kDefaultRequestTimeoutMs = 2000;
inline constexpr int64_t kDefaultBusyTimeoutMs = 1000;
inline constexpr int64_t kMaxTimeoutMs = 60000;

struct CursorBackendSettings {
  std::string database;  // Already resolved against the config file's folder.
  int64_t busy_timeout_ms = kDefaultBusyTimeoutMs;
};

struct CallableSettings {
  enum class Kind { kNone, kSql, kCommand };
  Kind kind = Kind::kNone;
  std::string sql;                   // kSql: healthy when the first value is truthy.
  std::vector<std::string> command;  // kCommand: program and arguments; healthy on exit 0.
};

struct Config {
  std::string source;  // The file it came from; empty for the built-in default.
  // Set when no file was found: where the search looked. Logged with every
  // answer, since an operator who meant to configure checks must learn that
  // none run.
  std::string not_found_notice;
  std::vector<std::string> services;
  CallableSettings callable;
  std::optional<CursorBackendSettings> cursor_backend;
  int64_t request_timeout_ms = kDefaultRequestTimeoutMs;
  int failure_status = 500;  // The HTTP status of an unhealthy answer: 500 or 503.
};

// Parses configuration text; `filename` is used in messages and to resolve
// relative paths. Does no I/O. Errors read
//   FILE:LINE: "services": expected a list of names
Result<Config> ParseConfig(std::string_view text, const std::string& filename);

// Reads and parses a file; a relative `path` is taken from the working folder.
Result<Config> LoadConfig(const std::string& path);

// What a request will check, in one line for the start-up log:
// "memory_backend, cursor_backend (database /srv/app.db), callable (sql)".
std::string SummarizeChecks(const Config& config);

}  // namespace healthcheck

// Config: the parsed configuration file, as plain structs. Parsing happens
// once, at the edge; nothing below it sees JSON.
//
//   { "services": ["memory_backend", "cursor_backend"],
//     "callable": {"sql": "SELECT count(*) = 0 FROM failed_jobs"},
//     "cursor_backend": {"database": "app.db", "timeout_ms": 1000},
//     "timeout_ms": 2000,
//     "probes": {"live": {"services": ["memory_backend"]},
//                "ready": {"services": ["cursor_backend"], "drains": true}},
//     "drain_file": "drain", "drain_status": 404,
//     "details": {"token_file": "token", "trusted_addresses": ["127.0.0.1/32"]} }
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "address_range.h"
#include "status.h"

namespace healthcheck {

// The dependency names a configuration may list under "services".
inline constexpr std::string_view kMemoryBackendName = "memory_backend";
inline constexpr std::string_view kCursorBackendName = "cursor_backend";

inline constexpr int64_t kDefaultRequestTimeoutMs = 2000;
inline constexpr int64_t kDefaultBusyTimeoutMs = 1000;
inline constexpr int64_t kMaxTimeoutMs = 60000;

// Which database cursor_backend proves. SQLite is checked in every build;
// a mysql or postgresql check runs in healthcheck-mysql or
// healthcheck-postgresql, which main() hands over to (driver_handover.h).
enum class DatabaseDriver { kSqlite, kMysql, kPostgresql };

// "sqlite", "mysql", "postgresql": as the configuration spells them.
const char* DriverName(DatabaseDriver driver);

// Where and as whom a mysql or postgresql cursor connects. ParseConfig
// fills in what the JSON keys give; LoadConfig the rest, from db_* in the
// environment and the env_file, as clearskies does (server_settings.h).
struct ServerSettings {
  std::string host;
  int port = 0;  // 0: the driver's default, 3306 or 5432.
  std::string socket;
  std::string username;
  std::string password;  // Never from the JSON, never in a message.
  std::string database;
  std::string ssl_ca;  // Set: TLS, with the server's certificate checked against it.
};

struct CursorBackendSettings {
  DatabaseDriver driver = DatabaseDriver::kSqlite;
  std::string database;  // sqlite: the file, already resolved against the config file's folder.
  // sqlite: how long to wait for a writer's lock. mysql, postgresql: how
  // long to wait for the server. A check's deadline bounds both.
  int64_t busy_timeout_ms = kDefaultBusyTimeoutMs;
  ServerSettings server;      // mysql, postgresql.
  std::string env_file;       // Resolved; empty: none.
  std::string password_file;  // Resolved; empty: none.
  std::string where;          // "FILE:LINE" of "cursor_backend", for LoadConfig's messages.
};

struct CallableSettings {
  enum class Kind { kNone, kSql, kCommand };
  Kind kind = Kind::kNone;
  std::string sql;                   // kSql: healthy when the first value is truthy.
  std::vector<std::string> command;  // kCommand: program and arguments; healthy on exit 0.
};

// The flood shield of a check (issue 13): a result answers the requests
// that arrive within success_ms (healthy) or failure_ms (failed) of the
// start of its check, on the whole machine, and requests that arrive while
// it runs wait for it.
struct CacheSettings {
  int64_t success_ms = 0;
  int64_t failure_ms = 0;
};

// One check: the top-level one, or a named probe's.
struct CheckSettings {
  std::vector<std::string> services;
  CallableSettings callable;
  int64_t timeout_ms = kDefaultRequestTimeoutMs;  // Bounds the whole check.
  // While the drain file exists, answers drain_status without checking.
  bool drains = false;
  // Set: the check's result is shared (a probe without "cache" of its own
  // takes the top level's).
  std::optional<CacheSettings> cache;
};

// A named probe: a request whose path ends in "/NAME" runs its check.
struct ProbeSettings {
  std::string name;
  CheckSettings check;
};

// Who may see the detailed health+json report: a caller presenting the
// token (Authorization: Bearer), or one whose REMOTE_ADDR is trusted.
struct DetailsSettings {
  std::string token_file;  // Resolved against the config file's folder; empty: none.
  std::string token_file_where;  // "FILE:LINE" of the key, for LoadConfig's messages.
  // The token itself. ParseConfig does no I/O, so LoadConfig fills it in;
  // an empty token authorises nobody.
  std::string token;
  std::vector<AddressRange> trusted_addresses;
};

struct Config {
  std::string source;  // The file it came from; empty for the built-in default.
  // Set when no file was found: where the search looked. Logged with every
  // answer, since an operator who meant to configure checks must learn that
  // none run.
  std::string not_found_notice;
  CheckSettings check;                // What any path without a probe of its own runs.
  std::vector<ProbeSettings> probes;  // In the file's order.
  std::optional<CursorBackendSettings> cursor_backend;
  int failure_status = 500;  // The HTTP status of an unhealthy answer: 500 or 503.
  std::string drain_file;    // Resolved; empty: no drain switch.
  int drain_status = 500;    // 404, 500 or 503; failure_status unless set.
  std::optional<DetailsSettings> details;
  // Where the shared results live, one small file per check, and the
  // metrics' counts; resolved. Needed when any check has a cache.
  std::string cache_folder;

  // Metrics are counted, and a path ending in /metrics answers them to
  // authorised callers, when there is someone to read them and somewhere
  // the whole machine can count.
  bool metrics() const { return details.has_value() && !cache_folder.empty(); }
};

// `config` without what it shares with the machine's other processes (the
// caches, the counted metrics): what --check runs. A one-shot run, perhaps
// as another user (cron's), must neither count nor make files in
// cache_folder that the service would then refuse as not its own.
Config WithoutSharedState(Config config);

// The probe name a path ends in to read the metrics; no probe may take it.
inline constexpr const char* kMetricsProbe = "metrics";

// The key through which `check` uses the database: "services" (it builds
// cursor_backend), "callable.sql", or nullptr when it does not use it.
const char* DatabaseKeyOf(const CheckSettings& check);

// Calls `visit(check, key_prefix)` for the top-level check (prefix "") and
// then each probe's ("probes.NAME."), so messages name keys as the file does.
template <typename Visit>
void ForEachCheck(const Config& config, Visit visit) {
  visit(config.check, std::string());
  for (const ProbeSettings& probe : config.probes) visit(probe.check, "probes." + probe.name + ".");
}

// Parses configuration text; `filename` is used in messages and to resolve
// relative paths. Does no I/O. Errors read
//   FILE:LINE: "services": expected a list of names
Result<Config> ParseConfig(std::string_view text, const std::string& filename);

// Reads and parses a file, and reads the details token file it names; a
// relative `path` is taken from the working folder.
Result<Config> LoadConfig(const std::string& path);

// What a request will check, in one line for the start-up log:
// "memory_backend, cursor_backend (database /srv/app.db), callable (sql)".
std::string SummarizeChecks(const Config& config);

}  // namespace healthcheck

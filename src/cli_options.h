// Command-line flags, parsed into a plain struct. No I/O.
#pragma once

#include <optional>
#include <string>

#include "status.h"

namespace healthcheck {

inline constexpr int kDefaultThreads = 4;
inline constexpr int kMaxThreads = 256;
inline constexpr int kMaxWorkers = 64;
inline constexpr int kMinIdleTimeoutMs = 100;
inline constexpr int kMaxIdleTimeoutMs = 600000;
inline constexpr int kMaxMaxRequests = 1000000000;
inline constexpr int kDefaultMaxWorkerRssMib = 64;
inline constexpr int kMinWorkerRssMib = 4;
inline constexpr int kMaxWorkerRssMib = 65536;

enum class Mode {
  kServe,       // FastCGI (--listen or a socket on fd 0) or CGI (REQUEST_METHOD).
  kCheck,       // --check: run once, exit 0 or 1.
  kTestConfig,  // --test-config: validate and exit.
  kHelp,
  kVersion,
};

enum class PublicBinding { kRefuse, kAllow };

struct Options {
  Mode mode = Mode::kServe;
  std::optional<std::string> config_path;
  std::optional<std::string> listen;
  PublicBinding public_binding = PublicBinding::kRefuse;
  int threads = kDefaultThreads;
  int workers = 0;  // 0: one process; N: a master supervising N worker processes.
  int max_requests = 0;  // Per worker process; 0: unlimited. Needs workers.
  int idle_timeout_ms = 10000;
  // A worker grown past this is recycled (libfcgi leaks on some hostile
  // records). Needs workers.
  int max_worker_rss_mib = kDefaultMaxWorkerRssMib;
  // --check --quiet: nothing on stdout when healthy (cron mails output).
  bool quiet = false;
  // --check --probe NAME: the probe to run instead of the top-level check.
  std::optional<std::string> probe;
  // For --listen unix:PATH, as php-fpm's listen.owner, .group and .mode:
  // names or numbers, resolved when the socket is made; mode in octal.
  std::optional<std::string> socket_owner;
  std::optional<std::string> socket_group;
  std::optional<std::string> socket_mode;
};

// argv[0] is skipped. Errors name the flag: "--threads: expected a number from 1 to 256".
Result<Options> ParseOptions(int argc, const char* const* argv);

std::string UsageText();

}  // namespace healthcheck

// ParseOptions and the usage text.
#include "cli_options.h"

#include <cstdlib>

namespace healthcheck {
namespace {

// Splits "--flag=value" and "--flag value"; advances `index` past the value.
Result<std::string> TakeValue(const std::string& flag, const std::string& inline_value,
                              bool has_inline_value, int argc, const char* const* argv,
                              int& index) {
  if (has_inline_value) return inline_value;
  if (index + 1 >= argc) return Status::Error(flag + ": expects a value");
  return std::string(argv[++index]);
}

Result<int> ParseCount(const std::string& flag, const std::string& text, int minimum,
                       int maximum) {
  const std::string expected = flag + ": expected a number from " + std::to_string(minimum) +
                               " to " + std::to_string(maximum);
  if (text.empty() || text.size() > 10) return Status::Error(expected);
  for (char c : text) {
    if (c < '0' || c > '9') return Status::Error(expected);
  }
  long long value = std::atoll(text.c_str());
  if (value < minimum || value > maximum) return Status::Error(expected);
  return static_cast<int>(value);
}

}  // namespace

Result<Options> ParseOptions(int argc, const char* const* argv) {
  Options options;
  bool mode_given = false;
  bool rss_limit_given = false;
  auto set_mode = [&](Mode mode, const std::string& flag) -> Status {
    if (mode_given && options.mode != mode) {
      return Status::Error(flag + ": only one of --check, --test-config, --help, --version");
    }
    mode_given = true;
    options.mode = mode;
    return Status::Ok();
  };
  for (int index = 1; index < argc; ++index) {
    std::string argument = argv[index];
    std::string flag = argument;
    std::string inline_value;
    size_t equals = argument.find('=');
    bool has_inline_value = argument.rfind("--", 0) == 0 && equals != std::string::npos;
    if (has_inline_value) {
      flag = argument.substr(0, equals);
      inline_value = argument.substr(equals + 1);
    }
    Status status = Status::Ok();
    if (flag == "--config" || flag == "--listen" || flag == "--probe" || flag == "--threads" ||
        flag == "--workers" ||
        flag == "--max-requests" || flag == "--idle-timeout-ms" || flag == "--max-worker-rss-mib" ||
        flag == "--socket-owner" || flag == "--socket-group" || flag == "--socket-mode") {
      Result<std::string> value =
          TakeValue(flag, inline_value, has_inline_value, argc, argv, index);
      if (!value.ok()) return value.status();
      if (flag == "--config") {
        if (value.value().empty()) return Status::Error("--config: expects a file path");
        options.config_path = value.value();
      } else if (flag == "--listen") {
        options.listen = value.value();
      } else if (flag == "--probe") {
        if (value.value().empty()) return Status::Error("--probe: expects a probe name");
        options.probe = value.value();
      } else if (flag == "--socket-owner" || flag == "--socket-group" || flag == "--socket-mode") {
        if (value.value().empty()) return Status::Error(flag + ": expects a value");
        (flag == "--socket-owner"   ? options.socket_owner
         : flag == "--socket-group" ? options.socket_group
                                    : options.socket_mode) = value.value();
      } else {
        Result<int> count = Status::Error("");
        if (flag == "--threads") count = ParseCount(flag, value.value(), 1, kMaxThreads);
        if (flag == "--workers") count = ParseCount(flag, value.value(), 0, kMaxWorkers);
        if (flag == "--max-requests") count = ParseCount(flag, value.value(), 0, kMaxMaxRequests);
        if (flag == "--idle-timeout-ms") {
          count = ParseCount(flag, value.value(), kMinIdleTimeoutMs, kMaxIdleTimeoutMs);
        }
        if (flag == "--max-worker-rss-mib") {
          count = ParseCount(flag, value.value(), kMinWorkerRssMib, kMaxWorkerRssMib);
          rss_limit_given = true;
        }
        if (!count.ok()) return count.status();
        int& target = flag == "--threads"           ? options.threads
                      : flag == "--workers"         ? options.workers
                      : flag == "--max-requests"    ? options.max_requests
                      : flag == "--idle-timeout-ms" ? options.idle_timeout_ms
                                                    : options.max_worker_rss_mib;
        target = count.value();
      }
      continue;
    }
    const bool is_switch = flag == "--allow-public" || flag == "--check" || flag == "--quiet" ||
                           flag == "--test-config" || flag == "--help" || flag == "-h" ||
                           flag == "--version";
    if (!is_switch) return Status::Error(argument + ": unknown flag");
    if (has_inline_value) return Status::Error(flag + ": takes no value");
    if (flag == "--allow-public") {
      options.public_binding = PublicBinding::kAllow;
    } else if (flag == "--quiet") {
      options.quiet = true;
    } else if (flag == "--check") {
      status = set_mode(Mode::kCheck, flag);
    } else if (flag == "--test-config") {
      status = set_mode(Mode::kTestConfig, flag);
    } else if (flag == "--help" || flag == "-h") {
      status = set_mode(Mode::kHelp, flag);
    } else {
      status = set_mode(Mode::kVersion, flag);
    }
    if (!status.ok()) return status;
  }
  if (options.quiet && options.mode != Mode::kCheck) {
    return Status::Error("--quiet: only with --check");
  }
  if (options.probe && options.mode != Mode::kCheck) {
    return Status::Error("--probe: only with --check");
  }
  bool unix_listen = options.listen && options.listen->rfind("unix:", 0) == 0;
  if ((options.socket_owner || options.socket_group || options.socket_mode) && !unix_listen) {
    return Status::Error("--socket-owner, --socket-group, --socket-mode: only with --listen unix:PATH");
  }
  if (options.max_requests > 0 && options.workers == 0) {
    return Status::Error("--max-requests: needs --workers (a master to start the replacement)");
  }
  if (rss_limit_given && options.workers == 0) {
    return Status::Error("--max-worker-rss-mib: needs --workers (a master to start the replacement)");
  }
  return options;
}

std::string UsageText() {
  return R"(Usage: healthcheck [--config FILE] [MODE]

A health URL for web applications: the clearskies HealthCheck handler as a
CGI/FastCGI responder. It answers 200 with the clearskies success envelope
when every configured check passes, and 500 with the failure envelope when
one does not. Reasons go to the web server's error log, never to the URL.

Modes:
  (no flag)                 serve: FastCGI when stdin is a listening socket
                            (spawn-fcgi, systemd, mod_fcgid, lighttpd), or
                            one CGI request when REQUEST_METHOD is set
  --listen unix:PATH        serve FastCGI on a unix socket (mode 0660)
  --listen 127.0.0.1:PORT   serve FastCGI on loopback TCP (also
                            localhost:PORT, [::1]:PORT)
  --check                   run the check once, print the body, exit 0 when
                            healthy and 1 when not (container HEALTHCHECK, cron);
                            reasons go to stderr; --quiet prints nothing on
                            stdout when healthy (warnings still go to stderr);
                            --probe NAME runs that probe instead of the
                            top-level check
  --test-config             check the configuration as a request would, as
                            the user it runs as, writing nothing: the file,
                            the database (opened read-only, as any reader
                            would: a WAL database's -shm may be made), the
                            sql query (prepared, not run), the command; exit
                            0 or 78
  --help (-h), --version

Options:
  --config FILE    the JSON configuration; else $HEALTHCHECK_CONFIG, else
                   healthcheck.json beside the program, else none (the check
                   then only proves the program runs)
  --threads N      FastCGI worker threads, 1 to 256 (default 4); keep it
                   above nginx workers x upstream keepalive
  --workers N      run a master process that supervises N worker processes
                   (0 to 64, default 0: one process): a worker that dies or
                   hangs is replaced, SIGHUP reloads by replacing workers
  --max-requests N recycle a worker after N requests, 0 to 1000000000
                   (default 0: never; needs --workers)
  --max-worker-rss-mib N  recycle a worker whose resident memory passes
                   N MiB, 4 to 65536 (default 64; needs --workers)
  --idle-timeout-ms N  drop a FastCGI connection whose request has not
                   arrived within N ms, or idle that long between requests
                   (100 to 600000, default 10000)
  --allow-public   allow --listen on a non-loopback address or a bare :PORT
  --socket-owner USER, --socket-group GROUP, --socket-mode MODE
                   for --listen unix:PATH: who owns the socket file and its
                   mode (default: the running user and group, 0660), so a
                   responder started as root can give nginx's group access

Sockets: with no --listen, a socket handed over by systemd (LISTEN_FDS=1,
fd 3) or on stdin (spawn-fcgi, StandardInput=socket) is served.

Exit codes: 0 ok, 1 unhealthy (--check), 64 usage, 70 server failure,
71 cannot listen, 78 bad configuration. Everything else: man healthcheck.
)";
}

}  // namespace healthcheck

// healthcheck: flags, configuration, and the choice of front end.
//
//   --help / --version / --test-config / --check   answer and exit
//   --listen ADDRESS                               FastCGI on a socket we open
//   LISTEN_PID/LISTEN_FDS name this process        FastCGI on fd 3 (systemd activation)
//   fd 0 is a listening socket                     FastCGI (spawn-fcgi, systemd, ...)
//   REQUEST_METHOD set                             one CGI request
//   none of these (a terminal)                     usage, exit 64
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "app.h"
#include "cgi.h"
#include "check_once.h"
#include "cli_options.h"
#include "config_checkup.h"
#include "config_locator.h"
#include "driver_handover.h"
#include "exit_codes.h"
#include "fastcgi_server.h"
#include "listen_socket.h"
#include "log.h"
#include "signals.h"
#include "supervisor.h"
#include "version.h"

namespace healthcheck {
namespace {

std::string Count(int count, const char* one, const char* many) {
  return std::to_string(count) + " " + (count == 1 ? one : many);
}

// One line at start, to stderr (the journal, spawn-fcgi's terminal): what
// will be served, where, with which configuration and which checks.
void LogStart(const std::string& where, const Options& options, const App& app, Log& log) {
  std::string processes =
      options.workers > 0 ? ", " + Count(options.workers, "worker process", "worker processes")
                          : "";
  const std::string& source = app.config.source;
  log.error(std::string("healthcheck ") + kVersion + ": starting FastCGI on " + where + " (" +
            Count(options.threads, "thread", "threads") + processes + "); configuration " +
            (source.empty() ? "none found" : source) + "; checks: " + SummarizeChecks(app.config));
}

int ServeFastCgiOn(int listen_fd, const std::string& where, const Options& options,
                   const std::optional<std::string>& path, std::shared_ptr<const App> app,
                   Log& log) {
  LogStart(where, options, *app, log);
  ServerOptions server;
  server.threads = options.threads;
  server.idle_timeout_ms = options.idle_timeout_ms;
  server.max_requests = options.max_requests;
  server.max_rss_bytes = static_cast<int64_t>(options.max_worker_rss_mib) << 20;
  if (path) {
    server.reload = [path, &log]() -> Result<std::shared_ptr<const App>> {
      Result<Config> config = LoadConfig(*path);
      if (!config.ok()) return config.status();
      Status linked = CheckDriverLinked(config.value());
      if (!linked.ok()) return linked;
      log.error("healthcheck: reloading " + config.value().source +
                "; checks: " + SummarizeChecks(config.value()));
      return BuildApp(config.value());
    };
  }
  if (options.workers > 0) {
    SupervisorOptions supervisor;
    supervisor.workers = options.workers;
    supervisor.worker = server;
    supervisor.max_worker_rss_bytes = static_cast<int64_t>(options.max_worker_rss_mib) << 20;
    return Supervise(listen_fd, std::move(app), supervisor, log);
  }
  return ServeFastCgi(listen_fd, std::move(app), server, log);
}

// Fills any of fds 0, 1 and 2 that is closed with /dev/null, read-only:
// else the first socket we open would become stderr, and log lines would go
// to a peer. Read-only, so that writing there still fails as it would on
// the closed descriptor (a CGI answer with nowhere to go is an error).
void FillClosedStandardDescriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    // open(2) takes the lowest free number: this one, as those below are open.
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) open("/dev/null", O_RDONLY);
  }
}

int Run(int argc, char** argv) {
  PrepareSignals();  // Before anything else can run: see signals.h.
  FillClosedStandardDescriptors();
  FdLog log(2);
  // Under CGI, words a web server made of the query string are not flags.
  if (getenv("REQUEST_METHOD") != nullptr &&
      AreCgiSearchWords(std::vector<std::string>(argv + 1, argv + argc), getenv("QUERY_STRING"))) {
    argc = 1;
  }
  Result<Options> parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) {
    log.error("healthcheck: " + parsed.status().message() + " (see --help)");
    return kExitUsage;
  }
  const Options& options = parsed.value();
  if (options.mode == Mode::kHelp) {
    std::fputs(UsageText().c_str(), stdout);
    return kExitOk;
  }
  if (options.mode == Mode::kVersion) {
    std::printf("healthcheck %s\n", kVersion);
    return kExitOk;
  }

  ConfigSearch search = ProcessConfigSearch(options.config_path);
  std::optional<std::string> path = LocateConfig(search);
  Result<Config> config = LoadLocatedConfig(search, path);
  if (config.ok()) {
    // Returns only when this program serves the configuration itself, or
    // cannot start the one that does: then that is the configuration's fault.
    Status handed_over = HandOverToDriverProgram(config.value(), argv);
    if (!handed_over.ok()) config = handed_over;
  }
  // Every mode but CGI refuses a bad configuration: better no answer (and
  // no socket) than a lying one.
  auto refuse_configuration = [&]() {
    log.error(config.status().message());
    return kExitConfig;
  };
  if (options.mode == Mode::kTestConfig) {
    TerminateOnServerSignals();  // Ctrl-C ends a wait on a locked database.
    if (!config.ok()) return refuse_configuration();
    if (!path) {
      // As clearskies: no configuration is a valid one. But say so.
      log.error(config.value().not_found_notice);
      std::printf("(no configuration file): configuration ok\n");
      return kExitOk;
    }
    const std::string& source = config.value().source;
    std::vector<std::string> problems = FindConfigProblems(config.value());
    for (const std::string& problem : problems) log.error(source + ": " + problem);
    if (!problems.empty()) return kExitConfig;
    // Whose access was tried: root's says little about the service user's.
    std::printf("%s: configuration ok, tried as %s\n", source.c_str(),
                RunningUserDescription().c_str());
    return kExitOk;
  }
  if (options.mode == Mode::kCheck) {
    TerminateOnServerSignals();
    if (!config.ok()) return refuse_configuration();
    return RunCheckOnce(*BuildApp(WithoutSharedState(config.value())), options.probe.value_or(""),
                        options.quiet, log);
  }

  if (options.listen) {
    Result<ListenAddress> address = ParseListenAddress(*options.listen, options.public_binding);
    Result<UnixSocketAccess> access = ResolveSocketAccess(options);
    if (!address.ok() || !access.ok()) {
      log.error("healthcheck: " +
                (address.ok() ? access.status() : address.status()).message());
      return kExitUsage;
    }
    address.value().access = access.value();
    if (!config.ok()) return refuse_configuration();
    Result<int> fd = OpenListeningSocket(address.value());
    if (!fd.ok()) {
      log.error("healthcheck: cannot listen: " + fd.status().message());
      return kExitOsError;
    }
    return ServeFastCgiOn(fd.value(), *options.listen, options, path, BuildApp(config.value()),
                          log);
  }
  Result<std::optional<int>> systemd_socket = SystemdListenSocket();
  if (!systemd_socket.ok()) {
    log.error("healthcheck: " + systemd_socket.status().message());
    return kExitOsError;
  }
  // A socket handed over is held to the rule --listen is held to.
  auto serve_handed_over = [&](int fd, const std::string& where) {
    Status private_socket = CheckHandedOverSocket(fd, options.public_binding);
    if (!private_socket.ok()) {
      log.error("healthcheck: " + private_socket.message());
      return kExitUsage;
    }
    if (!config.ok()) return refuse_configuration();
    return ServeFastCgiOn(fd, where, options, path, BuildApp(config.value()), log);
  };
  if (systemd_socket.value()) {
    return serve_handed_over(*systemd_socket.value(), "fd 3 (systemd socket activation)");
  }
  if (StdinIsListeningSocket()) {
    return serve_handed_over(0, "fd 0 (a socket handed over on stdin)");
  }
  if (getenv("REQUEST_METHOD") != nullptr) {
    TerminateOnServerSignals();
    // Under CGI, a bad configuration still answers: the failure response,
    // with the reason in the web server's error log.
    if (!config.ok()) {
      log.error(config.status().message());
      return ServeCgiRequest(nullptr, log);
    }
    return ServeCgiRequest(BuildApp(config.value()).get(), log);
  }
  log.error(
      "healthcheck: nothing to serve: no --listen, stdin is not a FastCGI socket, and "
      "REQUEST_METHOD is not set (not run by a web server?)\n\n" +
      UsageText());
  return kExitUsage;
}

}  // namespace
}  // namespace healthcheck

int main(int argc, char** argv) { return healthcheck::Run(argc, argv); }

// The "command" callable: runs a program, without a shell, and is healthy
// when it exits 0. The program runs in a process group of its own, with
// stdin and stdout on /dev/null and a clean environment (see
// CommandEnvironment); at the request deadline the whole group is killed,
// so a hung check (or anything it started) cannot outlive the answer.
#pragma once

#include <string>
#include <vector>

#include "../health_check.h"

namespace healthcheck {

// The PATH every command gets, whatever the server's own.
inline constexpr const char* kCommandPath = "PATH=/usr/local/bin:/usr/bin:/bin";

// What a command's environment holds: kCommandPath, and from `environment`
// (a process's environ) only HOME, LANG, LC_*, TZ and TMPDIR. Never the
// request's variables: under CGI the environment is the request, and
// HTTP_* are whatever the client sent (HTTP_PROXY, say).
std::vector<std::string> CommandEnvironment(char** environment);

HealthCallable MakeCommandCallable(std::vector<std::string> command);

// Runs `command` with `environment` until it exits or `deadline` passes. Ok
// when it exited 0; otherwise the reason.
Status RunCommand(const std::vector<std::string>& command,
                  const std::vector<std::string>& environment, const Deadline& deadline);

// Kills the process group of every command running now. Async-signal-safe:
// for a one-request process that a signal ends (signals.h).
void KillRunningCommandGroups();

}  // namespace healthcheck

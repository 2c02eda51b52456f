// The "command" callable: runs a program, without a shell, and is healthy
// when it exits 0. The program runs in a process group of its own, with
// stdin and stdout on /dev/null; at the request deadline the whole group is
// killed, so a hung check (or anything it started) cannot outlive the answer.
#pragma once

#include <string>
#include <vector>

#include "../health_check.h"

namespace healthcheck {

HealthCallable MakeCommandCallable(std::vector<std::string> command);

// Runs `command` until it exits or `deadline` passes. Ok when it exited 0;
// otherwise the reason.
Status RunCommand(const std::vector<std::string>& command, const Deadline& deadline);

}  // namespace healthcheck

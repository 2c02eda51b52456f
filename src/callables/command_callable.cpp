// MakeCommandCallable and RunCommand, on posix_spawn and a pidfd.
#include "command_callable.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "../signals.h"

extern char** environ;

namespace healthcheck {
namespace {

// Used only where the kernel has no pidfd_open (before Linux 5.3).
constexpr auto kExitPollInterval = std::chrono::milliseconds(2);
// One per worker thread at most (--threads is at most 256).
constexpr int kMaxRunningCommands = 256;

// The process groups of the commands running now, 0 where a place is free.
// Process-wide because a signal handler can see nothing else; lock-free
// atomics, so that handler may read them.
std::atomic<pid_t> running_groups[kMaxRunningCommands];

void RememberGroup(pid_t group) {
  for (auto& place : running_groups) {
    pid_t free = 0;
    if (place.compare_exchange_strong(free, group)) return;
  }
}

void ForgetGroup(pid_t group) {
  for (auto& place : running_groups) {
    pid_t expected = group;
    if (place.compare_exchange_strong(expected, 0)) return;
  }
}

bool IsPassedThrough(const char* variable) {
  static const char* const kNames[] = {"HOME=", "LANG=", "TZ=", "TMPDIR="};
  for (const char* name : kNames) {
    if (strncmp(variable, name, strlen(name)) == 0) return true;
  }
  return strncmp(variable, "LC_", 3) == 0 && strchr(variable, '=') != nullptr;
}

std::vector<char*> NullTerminated(const std::vector<std::string>& words) {
  std::vector<char*> pointers;
  for (const std::string& word : words) pointers.push_back(const_cast<char*>(word.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// Spawns `command` in a new process group with stdin/stdout on /dev/null and
// no descriptor of ours (a listening socket must not leak into a check).
int Spawn(const std::vector<std::string>& command, const std::vector<std::string>& environment,
          pid_t* pid) {
  std::vector<char*> argv = NullTerminated(command);
  std::vector<char*> envp = NullTerminated(environment);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setpgroup(&attributes, 0);
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&attributes, &signals);  // Our threads block some signals.
  sigfillset(&signals);
  posix_spawnattr_setsigdefault(&attributes, &signals);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  int error = posix_spawn(pid, argv[0], &actions, &attributes, argv.data(), envp.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  return error;
}

// Spawns and remembers the group with the server signals blocked, so that
// a signal ending a CGI process cannot fall between the two.
int SpawnRemembered(const std::vector<std::string>& command,
                    const std::vector<std::string>& environment, pid_t* pid) {
  sigset_t blocked = ServerSignals(), previous;
  pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  int error = Spawn(command, environment, pid);
  if (error == 0) RememberGroup(*pid);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return error;
}

// Waits until `pid` has exited (a zombie, not yet reaped) or the deadline
// passes. True when it exited.
bool WaitForExit(pid_t pid, const Deadline& deadline) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    for (;;) {
      struct pollfd exited = {pidfd, POLLIN, 0};
      int ready = poll(&exited, 1, static_cast<int>(deadline.remaining_ms()));
      if (ready < 0 && errno == EINTR) continue;
      close(pidfd);
      return ready > 0;
    }
  }
  siginfo_t info;
  for (;;) {
    memset(&info, 0, sizeof info);
    // WNOWAIT leaves the zombie in place, so its pid and group cannot be reused yet.
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid) {
      return true;
    }
    if (deadline.expired()) return false;
    std::this_thread::sleep_for(kExitPollInterval);
  }
}

std::string DescribeExit(const std::string& program, int wait_status) {
  if (WIFEXITED(wait_status)) {
    return "\"" + program + "\" exited with status " + std::to_string(WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    return "\"" + program + "\" was killed by signal " + std::to_string(WTERMSIG(wait_status));
  }
  return "\"" + program + "\" ended abnormally";
}

}  // namespace

std::vector<std::string> CommandEnvironment(char** environment) {
  std::vector<std::string> kept = {kCommandPath};
  for (char** variable = environment; variable != nullptr && *variable != nullptr; ++variable) {
    if (IsPassedThrough(*variable)) kept.emplace_back(*variable);
  }
  return kept;
}

Status RunCommand(const std::vector<std::string>& command,
                  const std::vector<std::string>& environment, const Deadline& deadline) {
  if (command.empty()) return Status::Error("no command to run");
  pid_t pid = 0;
  int error = SpawnRemembered(command, environment, &pid);
  if (error != 0) return Status::Error("cannot run \"" + command[0] + "\": " + strerror(error));
  bool exited = WaitForExit(pid, deadline);
  // Whatever the check started goes with it; the leader is still unreaped,
  // so the group id cannot belong to anyone else.
  kill(-pid, SIGKILL);
  ForgetGroup(pid);
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (!exited) return Status::Error("\"" + command[0] + "\" was killed at the request deadline");
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) return Status::Ok();
  return Status::Error(DescribeExit(command[0], wait_status));
}

HealthCallable MakeCommandCallable(std::vector<std::string> command) {
  return [command = std::move(command), environment = CommandEnvironment(environ)](
             Container& container) { return RunCommand(command, environment, container.deadline()); };
}

void KillRunningCommandGroups() {
  for (auto& place : running_groups) {
    pid_t group = place.load();
    if (group > 0) kill(-group, SIGKILL);
  }
}

}  // namespace healthcheck

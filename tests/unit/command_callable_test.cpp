// The command callable: exit 0 is healthy; anything else, or the deadline,
// is not, and nothing it started outlives the check. It sees a clean
// environment, never the request's, and returns its reason as a Status.
#include "../../src/callables/command_callable.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <sstream>
#include <thread>

#include "../../src/worker_context.h"
#include "test_support.h"

using namespace healthcheck;

namespace {
// What RunCommand is given in these tests unless they say otherwise.
const std::vector<std::string> kEnvironment = {kCommandPath};

Status Run(const std::vector<std::string>& command, int64_t deadline_ms = 2000) {
  return RunCommand(command, kEnvironment, Deadline::FromNow(deadline_ms));
}

// Gone, or a zombie waiting for an init that may never reap it.
bool ProcessEnded(pid_t pid) {
  if (kill(pid, 0) != 0) return true;
  std::string stat = testing::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t close_paren = stat.rfind(')');
  return close_paren != std::string::npos && stat.size() > close_paren + 2 &&
         stat[close_paren + 2] == 'Z';
}

std::string ErrorOf(const std::vector<std::string>& command, int64_t deadline_ms = 2000) {
  Status status = Run(command, deadline_ms);
  REQUIRE_FALSE(status.ok());
  return status.message();
}
}  // namespace

TEST_CASE("a command that exits 0 is healthy") {
  CHECK(Run({"/bin/true"}).ok());
  CHECK(Run({"/bin/sh", "-c", "exit 0"}).ok());
}

TEST_CASE("a failing command names its exit status or signal") {
  CHECK(ErrorOf({"/bin/false"}) == "\"/bin/false\" exited with status 1");
  CHECK(ErrorOf({"/bin/sh", "-c", "exit 7"}) == "\"/bin/sh\" exited with status 7");
  CHECK(ErrorOf({"/bin/sh", "-c", "kill -9 $$"}) == "\"/bin/sh\" was killed by signal 9");
}

TEST_CASE("a program that does not exist is an error, not a crash") {
  CHECK(ErrorOf({"/nonexistent/check"}) ==
        "cannot run \"/nonexistent/check\": No such file or directory");
  CHECK(ErrorOf({}) == "no command to run");
}

TEST_CASE("arguments reach the program without a shell") {
  testing::TempDir dir;
  std::string marker = dir.file("a b;c");
  CHECK(Run({"/usr/bin/touch", marker}).ok());
  CHECK(testing::Exists(marker));
}

TEST_CASE("a hung command is killed at the deadline, with what it started") {
  testing::TempDir dir;
  std::string pid_file = dir.file("child.pid");
  auto start = std::chrono::steady_clock::now();
  std::string message = ErrorOf(
      {"/bin/sh", "-c", "sleep 30 & echo $! > '" + pid_file + "'; wait"}, 300);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(message == "\"/bin/sh\" was killed at the request deadline");
  CHECK(took >= std::chrono::milliseconds(250));
  CHECK(took < std::chrono::milliseconds(1500));
  std::string text = testing::ReadFile(pid_file);
  REQUIRE_FALSE(text.empty());
  pid_t grandchild = std::stoi(text);
  // Killed with its group.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ProcessEnded(grandchild);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(gone);
}

TEST_CASE("the command callable returns its reason as a Status, without throwing") {
  DependencyRegistry registry;
  WorkerContext worker;
  Container container(registry, worker, Deadline::FromNow(2000));
  HealthCallable failing = MakeCommandCallable({"/bin/false"});
  Status status = Status::Ok();
  CHECK_NOTHROW(status = failing(container));
  CHECK(status.message() == "\"/bin/false\" exited with status 1");
  HealthCallable missing = MakeCommandCallable({"/nonexistent/check"});
  CHECK_NOTHROW(status = missing(container));
  CHECK(status.message() == "cannot run \"/nonexistent/check\": No such file or directory");
  HealthCallable ok = MakeCommandCallable({"/bin/true"});
  CHECK(ok(container).ok());
}

TEST_CASE("a failing command callable is logged with its reason, not as an exception") {
  DependencyRegistry registry;
  HealthCheck check;
  check.callable = MakeCommandCallable({"/bin/false"});
  check.callable_name = "callable (command)";
  WorkerContext worker;
  MemoryLog log;
  CHECK(HandleHealth(Request{}, check, registry, worker, log).status_code == 500);
  REQUIRE(log.lines.size() == 1);
  CHECK(testing::WithoutDuration(log.lines[0]) ==
        "healthcheck: unhealthy: callable (command) failed after N ms: \"/bin/false\" exited "
        "with status 1");
}

TEST_CASE("a command's environment is the fixed PATH and only HOME, LANG, LC_*, TZ, TMPDIR") {
  const char* environment[] = {"HTTP_PROXY=http://attacker.example:3128",
                               "QUERY_STRING=a=1",
                               "REQUEST_METHOD=GET",
                               "PATH=/evil",
                               "HOME=/home/hc",
                               "LANG=C.UTF-8",
                               "LANGUAGE=fr",
                               "LC_ALL=C",
                               "TZ=UTC",
                               "HOMEPAGE=x",
                               "TMPDIR=/var/tmp",
                               "db_host=10.0.0.5",
                               nullptr};
  CHECK(CommandEnvironment(const_cast<char**>(environment)) ==
        std::vector<std::string>{kCommandPath, "HOME=/home/hc", "LANG=C.UTF-8", "LC_ALL=C",
                                 "TZ=UTC", "TMPDIR=/var/tmp"});
  CHECK(std::string(kCommandPath) == "PATH=/usr/local/bin:/usr/bin:/bin");
  const char* empty[] = {nullptr};
  CHECK(CommandEnvironment(const_cast<char**>(empty)) == std::vector<std::string>{kCommandPath});
  CHECK(CommandEnvironment(nullptr) == std::vector<std::string>{kCommandPath});
}

TEST_CASE("a command gets exactly the environment it is given") {
  testing::TempDir dir;
  std::string out = dir.file("environ");
  const std::vector<std::string> given = {kCommandPath, "HOME=/home/hc", "TZ=UTC"};
  // The shell's initial environment, as execve passed it (NUL-separated).
  REQUIRE(RunCommand({"/bin/sh", "-c", "cat /proc/$$/environ > '" + out + "'"}, given,
                     Deadline::FromNow(2000))
              .ok());
  std::vector<std::string> received;
  std::istringstream text(testing::ReadFile(out));
  for (std::string entry; std::getline(text, entry, '\0');) received.push_back(entry);
  CHECK(received == given);
}

TEST_CASE("the command callable gives the command none of the server's request variables") {
  testing::ScopedEnvironment proxy("HTTP_PROXY", std::string("http://attacker.example:3128"));
  testing::ScopedEnvironment query("QUERY_STRING", std::string("a=1"));
  testing::ScopedEnvironment home("HOME", std::string("/home/hc"));
  HealthCallable callable = MakeCommandCallable(
      {"/bin/sh", "-c",
       "[ -z \"$HTTP_PROXY\" ] && [ -z \"$QUERY_STRING\" ] && [ \"$HOME\" = /home/hc ] && "
       "[ \"$PATH\" = /usr/local/bin:/usr/bin:/bin ]"});
  DependencyRegistry registry;
  WorkerContext worker;
  Container container(registry, worker, Deadline::FromNow(2000));
  Status status = callable(container);
  CHECK_MESSAGE(status.ok(), status.message());
}

TEST_CASE("a sleeping command is killed at the deadline, on time") {
  auto start = std::chrono::steady_clock::now();
  CHECK(ErrorOf({"/bin/sleep", "30"}, 200) == "\"/bin/sleep\" was killed at the request deadline");
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= std::chrono::milliseconds(150));
  CHECK(took < std::chrono::milliseconds(1200));
}

TEST_CASE("a deadline already passed still kills and reaps the command") {
  auto start = std::chrono::steady_clock::now();
  CHECK(ErrorOf({"/bin/sleep", "30"}, 0) == "\"/bin/sleep\" was killed at the request deadline");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000));
}

TEST_CASE("KillRunningCommandGroups kills the group of every running command") {
  testing::TempDir dir;
  std::string pid_file = dir.file("child.pid");
  auto start = std::chrono::steady_clock::now();
  std::future<Status> running = std::async(std::launch::async, [&pid_file] {
    return Run({"/bin/sh", "-c", "sleep 30 & echo $! > '" + pid_file + "'; wait"}, 10000);
  });
  // Again and again until it ends: the group is known only once spawned.
  while (running.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    KillRunningCommandGroups();
  }
  REQUIRE(running.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  Status status = running.get();
  CHECK(status.message() == "\"/bin/sh\" was killed by signal 9");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  std::string text = testing::ReadFile(pid_file);
  if (!text.empty()) {  // The shell may have died before it started sleep.
    pid_t grandchild = std::stoi(text);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
      gone = ProcessEnded(grandchild);
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(gone);
  }
}

TEST_CASE("a bare program name is not looked up in PATH") {
  CHECK(ErrorOf({"true"}) == "cannot run \"true\": No such file or directory");
}

TEST_CASE("the command's stdin and stdout are /dev/null") {
  CHECK(Run({"/bin/sh", "-c",
             "[ \"$(readlink /proc/$$/fd/0)\" = /dev/null ] && "
             "[ \"$(readlink /proc/$$/fd/1)\" = /dev/null ]"})
            .ok());
}

TEST_CASE("the command inherits no descriptor of ours beyond stdin, stdout and stderr") {
  testing::TempDir dir;
  std::string path = dir.file("secret");
  testing::WriteFile(path, "x");
  int fd = open(path.c_str(), O_RDONLY);  // Deliberately not close-on-exec.
  REQUIRE(fd > 2);
  Status status = Run({"/bin/sh", "-c", "[ ! -e /proc/$$/fd/" + std::to_string(fd) + " ]"});
  close(fd);
  CHECK_MESSAGE(status.ok(), status.message());
}

TEST_CASE("the command runs in a process group of its own") {
  testing::TempDir dir;
  std::string out = dir.file("ids");
  // stdout is /dev/null, so the shell reports through a file.
  REQUIRE(Run({"/bin/sh", "-c", "echo $$ $(cut -d' ' -f5 /proc/$$/stat) > '" + out + "'"}).ok());
  std::istringstream ids(testing::ReadFile(out));
  long pid = 0;
  long group = 0;
  ids >> pid >> group;
  CHECK(pid > 0);
  CHECK(group == pid);
  CHECK(group != static_cast<long>(getpgrp()));
}

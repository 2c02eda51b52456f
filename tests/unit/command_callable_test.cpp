// The command callable: exit 0 is healthy; anything else, or the deadline,
// is not, and nothing it started outlives the check.
#include "../../src/callables/command_callable.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "test_support.h"

using namespace healthcheck;

namespace {
// Gone, or a zombie waiting for an init that may never reap it.
bool ProcessEnded(pid_t pid) {
  if (kill(pid, 0) != 0) return true;
  std::string stat = testing::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t close_paren = stat.rfind(')');
  return close_paren != std::string::npos && stat.size() > close_paren + 2 &&
         stat[close_paren + 2] == 'Z';
}

std::string ErrorOf(const std::vector<std::string>& command, int64_t deadline_ms = 2000) {
  Status status = RunCommand(command, Deadline::FromNow(deadline_ms));
  REQUIRE_FALSE(status.ok());
  return status.message();
}
}  // namespace

TEST_CASE("a command that exits 0 is healthy") {
  CHECK(RunCommand({"/bin/true"}, Deadline::FromNow(2000)).ok());
  CHECK(RunCommand({"/bin/sh", "-c", "exit 0"}, Deadline::FromNow(2000)).ok());
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
  CHECK(RunCommand({"/usr/bin/touch", marker}, Deadline::FromNow(2000)).ok());
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

TEST_CASE("the command callable throws its reason, which fails the check") {
  HealthCallable callable = MakeCommandCallable({"/bin/false"});
  DependencyRegistry registry;
  Container container(registry, Deadline::FromNow(2000));
  CHECK_THROWS_WITH(callable(container), "\"/bin/false\" exited with status 1");
  HealthCallable ok = MakeCommandCallable({"/bin/true"});
  CHECK(ok(container));
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

TEST_CASE("a bare program name is not looked up in PATH") {
  CHECK(ErrorOf({"true"}) == "cannot run \"true\": No such file or directory");
}

TEST_CASE("the command's stdin and stdout are /dev/null") {
  CHECK(RunCommand({"/bin/sh", "-c",
                    "[ \"$(readlink /proc/$$/fd/0)\" = /dev/null ] && "
                    "[ \"$(readlink /proc/$$/fd/1)\" = /dev/null ]"},
                   Deadline::FromNow(2000))
            .ok());
}

TEST_CASE("the command inherits no descriptor of ours beyond stdin, stdout and stderr") {
  testing::TempDir dir;
  std::string path = dir.file("secret");
  testing::WriteFile(path, "x");
  int fd = open(path.c_str(), O_RDONLY);  // Deliberately not close-on-exec.
  REQUIRE(fd > 2);
  Status status = RunCommand({"/bin/sh", "-c", "[ ! -e /proc/$$/fd/" + std::to_string(fd) + " ]"},
                             Deadline::FromNow(2000));
  close(fd);
  CHECK_MESSAGE(status.ok(), status.message());
}

TEST_CASE("the command runs in a process group of its own") {
  testing::TempDir dir;
  std::string out = dir.file("ids");
  // stdout is /dev/null, so the shell reports through a file.
  REQUIRE(RunCommand({"/bin/sh", "-c", "echo $$ $(cut -d' ' -f5 /proc/$$/stat) > '" + out + "'"},
                     Deadline::FromNow(2000))
              .ok());
  std::istringstream ids(testing::ReadFile(out));
  long pid = 0;
  long group = 0;
  ids >> pid >> group;
  CHECK(pid > 0);
  CHECK(group == pid);
  CHECK(group != static_cast<long>(getpgrp()));
}

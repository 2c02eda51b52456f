// Fixtures for the database tests that need other processes: a lock
// holder, an unprivileged child, and databases in given states.
#pragma once

#include <doctest/doctest.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "../../src/backends/sqlite_cursor.h"
#include "../../src/config.h"
#include "test_support.h"

namespace healthcheck::testing {

// cursor_backend's settings for `path`, waiting `busy_ms` on a lock.
inline CursorBackendSettings CursorSettings(const std::string& path, int64_t busy_ms = 1000) {
  CursorBackendSettings settings;
  settings.database = path;
  settings.busy_timeout_ms = busy_ms;
  return settings;
}

// Holds an EXCLUSIVE transaction on `path` from another process until
// destroyed, the way a long migration would. The holder dies with this
// process too (a crashed test leaves no lock behind).
class ExclusiveLockHolder {
 public:
  explicit ExclusiveLockHolder(const std::string& path) : ready_(path + ".locked") {
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      execlp("python3", "python3", "-c",
             "import sqlite3, sys, time\n"
             "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "c.execute('BEGIN EXCLUSIVE')\n"
             "open(sys.argv[2], 'w').close()\n"
             "time.sleep(30)\n",
             path.c_str(), ready_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 500 && !Exists(ready_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!Exists(ready_)) {
      Stop();  // The destructor will not run for a constructor that throws.
      FAIL("the lock holder never took its lock");
    }
  }
  ~ExclusiveLockHolder() { Stop(); }
  ExclusiveLockHolder(const ExclusiveLockHolder&) = delete;
  ExclusiveLockHolder& operator=(const ExclusiveLockHolder&) = delete;

 private:
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    unlink(ready_.c_str());
  }

  std::string ready_;
  pid_t pid_ = -1;
};

// Runs `work` in a child process that has given up root for nobody (65534),
// and returns what it wrote to its pipe; root reads any file, so a
// permission test cannot run as root. The child never returns into doctest.
template <typename Work>
std::string AsNobody(Work work) {
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    FAIL("fork failed");
  }
  if (pid == 0) {
    close(pipe_fds[0]);
    std::string answer = (setgroups(0, nullptr) == 0 && setgid(65534) == 0 && setuid(65534) == 0)
                             ? work()
                             : std::string("cannot become nobody");
    ssize_t written = write(pipe_fds[1], answer.data(), answer.size());
    _exit(written == static_cast<ssize_t>(answer.size()) ? 0 : 1);
  }
  close(pipe_fds[1]);
  std::string answer;
  char chunk[512];
  for (ssize_t got; (got = read(pipe_fds[0], chunk, sizeof chunk)) > 0;) answer.append(chunk, got);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  return answer;
}

// A WAL-mode database, checkpointed and closed: no -wal or -shm beside it.
inline void MakeWalDatabase(const std::string& path) {
  testing::RunPython(
      "import sqlite3, sys\n"
      "c = sqlite3.connect(sys.argv[1])\n"
      "c.execute('PRAGMA journal_mode=WAL')\n"
      "c.execute('CREATE TABLE failed_jobs (id INTEGER PRIMARY KEY)')\n"
      "c.commit()\n"
      "c.close()\n",
      path);
}

// True when another process can take an EXCLUSIVE lock on `path` at once:
// this process holds no lock on it.
inline bool NobodyHoldsALock(const std::string& path) {
  try {
    RunPython(
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "c.execute('ROLLBACK')\n",
        path);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

// A cursor_backend check of `path`: "ok", or why it failed.
inline std::string CheckCursor(const std::string& path, int64_t busy_ms = 1000) {
  auto cursor = SqliteCursor::OpenReadOnly(CursorSettings(path, busy_ms), Deadline::FromNow(2000));
  return cursor.ok() ? "ok" : cursor.status().message();
}

// Writes `bytes` over `path` at `offset`, in place: same file, new mtime.
inline void OverwriteAt(const std::string& path, long offset, const std::string& bytes) {
  FILE* file = fopen(path.c_str(), "r+");
  REQUIRE(file != nullptr);
  REQUIRE(fseek(file, offset, SEEK_SET) == 0);
  REQUIRE(fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size());
  fclose(file);
}

// The page size MakeDatabase's files have; page 2 is failed_jobs' root.
constexpr long kFixturePageBytes = 4096;

// Switches a database to WAL and empties failed_jobs, the way an
// application would, closing cleanly: no -wal or -shm stays behind.
inline void SwitchToWalAndEmpty(const std::string& path) {
  RunPython(
      "import sqlite3, sys\n"
      "c = sqlite3.connect(sys.argv[1])\n"
      "c.execute('PRAGMA journal_mode=WAL')\n"
      "c.execute('DELETE FROM failed_jobs')\n"
      "c.commit()\n"
      "c.close()\n",
      path);
}

}  // namespace healthcheck::testing

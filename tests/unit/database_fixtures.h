// Fixtures for the database tests: a lock holder and a writer in other
// processes, an unprivileged child, databases in given states, and checks
// run as a worker's requests run them.
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
#include "../../src/worker_context.h"
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

// Gives `path` to nobody (65534) when we are root, so that AsUnprivileged's
// child may chmod it; otherwise it is ours already.
inline void GiveToUnprivileged(const std::string& path) {
  if (RunningAsRoot()) REQUIRE(chown(path.c_str(), 65534, 65534) == 0);
}

// Runs `work` in a child process that file permissions bind, and returns
// what it wrote to its pipe: as nobody (65534) when we are root, who reads
// any file; else as ourselves. The child never returns into doctest.
template <typename Work>
std::string AsUnprivileged(Work work) {
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
    bool unprivileged = !RunningAsRoot() ||
                        (setgroups(0, nullptr) == 0 && setgid(65534) == 0 && setuid(65534) == 0);
    std::string answer = unprivileged ? work() : std::string("cannot become nobody");
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
        path, PythonErrors::kHidden);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

// True when another process can write to `path` at once: BEGIN IMMEDIATE,
// an INSERT and a COMMIT with a 100 ms busy timeout. No connection of ours
// holds a lock or a transaction on it.
inline bool AnotherProcessCanWrite(const std::string& path) {
  try {
    RunPython(
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], timeout=0.1, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "c.execute('INSERT INTO failed_jobs DEFAULT VALUES')\n"
        "c.execute('COMMIT')\n",
        path, PythonErrors::kHidden);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

// The name a cursor_backend keeps its connection under in a WorkerContext.
inline const std::string kCursorBackend(kCursorBackendName);

// One request's cursor_backend check of `path` on `worker`, as HandleHealth
// runs it: the cursor lives for the request, then the worker ends the
// request (dropping a connection unfit to keep). "ok", or why it failed.
inline std::string CheckCursor(const std::string& path, WorkerContext& worker,
                               int64_t busy_ms = 1000) {
  std::string answer;
  {
    auto cursor =
        SqliteCursor::OpenReadOnly(CursorSettings(path, busy_ms), Deadline::FromNow(2000), worker);
    answer = cursor.ok() ? "ok" : cursor.status().message();
  }
  worker.EndRequest();
  return answer;
}

// The same check on a worker of its own, which keeps nothing afterwards.
inline std::string CheckCursor(const std::string& path, int64_t busy_ms = 1000) {
  WorkerContext worker;
  return CheckCursor(path, worker, busy_ms);
}

// One request of the sql callable's kind on `worker`: "truthy" or "falsy"
// for the first value of `sql`, or why it failed.
inline std::string Query(const std::string& path, WorkerContext& worker, const std::string& sql) {
  std::string answer;
  {
    auto cursor = SqliteCursor::OpenReadOnly(CursorSettings(path), Deadline::FromNow(2000), worker);
    if (cursor.ok()) {
      auto truthy = cursor.value()->FirstValueIsTruthy(sql);
      answer = !truthy.ok() ? truthy.status().message() : truthy.value() ? "truthy" : "falsy";
    } else {
      answer = cursor.status().message();
    }
  }
  worker.EndRequest();
  return answer;
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

// SharedResult and ShieldedCheck: the record's window, fingerprint and
// integrity; one leader at a time across open files and processes, and a
// lead given up when its process dies; single flight across threads; and a
// waiter bound by its own deadline.
#include "../../src/shared_result.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "test_support.h"

using namespace healthcheck;
using healthcheck::testing::TempDir;

namespace {

constexpr int64_t kMs = 1000000;

SharedResult OpenOrFail(const std::string& path, uint64_t fingerprint = 7) {
  Result<SharedResult> opened = SharedResult::Open(path, fingerprint);
  REQUIRE(opened.ok());
  return std::move(opened.value());
}

SharedOutcome Outcome(bool healthy, int64_t started_ns, const std::string& reason = "") {
  SharedOutcome outcome;
  outcome.healthy = healthy;
  outcome.started_ns = started_ns;
  outcome.reason = reason;
  return outcome;
}

}  // namespace

TEST_CASE("a result answers within its window from the start of its check, never after") {
  TempDir dir;
  SharedResult shared = OpenOrFail(dir.file("ready.state"));
  int64_t now = BootClockNowNs();
  REQUIRE(shared.TryLead());
  shared.Publish(Outcome(true, now));
  CacheWindow window{1000, 100};
  CHECK(shared.Fresh(now + 999 * kMs, window).has_value());
  CHECK_FALSE(shared.Fresh(now + 1000 * kMs, window).has_value());
  CHECK_FALSE(shared.Fresh(now - 1, window).has_value());  // Started "in the future": another boot.
  REQUIRE(shared.TryLead());
  shared.Publish(Outcome(false, now, "cursor_backend failed after 1.0 ms: locked"));
  std::optional<SharedOutcome> failed = shared.Fresh(now + 99 * kMs, window);
  REQUIRE(failed.has_value());
  CHECK_FALSE(failed->healthy);
  CHECK(failed->reason == "cursor_backend failed after 1.0 ms: locked");
  CHECK_FALSE(shared.Fresh(now + 100 * kMs, window).has_value());
}

TEST_CASE("a record of another configuration, a torn one or none at all answers nothing") {
  TempDir dir;
  std::string path = dir.file("ready.state");
  SharedResult writer = OpenOrFail(path, 1);
  int64_t now = BootClockNowNs();
  REQUIRE(writer.TryLead());
  writer.Publish(Outcome(true, now));
  CacheWindow window{60000, 60000};
  CHECK(OpenOrFail(path, 1).Fresh(now, window).has_value());
  CHECK_FALSE(OpenOrFail(path, 2).Fresh(now, window).has_value());
  REQUIRE(truncate(path.c_str(), 40) == 0);
  CHECK_FALSE(OpenOrFail(path, 1).Fresh(now, window).has_value());
  testing::WriteFile(path, std::string(2000, 'x'));
  CHECK_FALSE(OpenOrFail(path, 1).Fresh(now, window).has_value());
  CHECK_FALSE(OpenOrFail(dir.file("new.state"), 1).Fresh(now, window).has_value());
}

TEST_CASE("the file is created 0600, and a symlink or a folder is refused") {
  TempDir dir;
  OpenOrFail(dir.file("a.state"));
  struct stat info;
  REQUIRE(stat(dir.file("a.state").c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  REQUIRE(symlink(dir.file("a.state").c_str(), dir.file("link.state").c_str()) == 0);
  CHECK_FALSE(SharedResult::Open(dir.file("link.state"), 7).ok());
  CHECK_FALSE(SharedResult::Open(dir.path(), 7).ok());
  if (testing::RunningAsRoot()) {
    REQUIRE(chown(dir.file("a.state").c_str(), 65534, 65534) == 0);
    Result<SharedResult> foreign = SharedResult::Open(dir.file("a.state"), 7);
    REQUIRE_FALSE(foreign.ok());
    CHECK(foreign.status().message().find("not a regular file owned by this user") !=
          std::string::npos);
  }
}

TEST_CASE("one leader at a time, across open files; the lead is given up by Publish and Resign") {
  TempDir dir;
  std::string path = dir.file("ready.state");
  SharedResult first = OpenOrFail(path);
  SharedResult second = OpenOrFail(path);
  REQUIRE(first.TryLead());
  CHECK_FALSE(second.TryLead());
  first.Resign();
  REQUIRE(second.TryLead());
  CHECK_FALSE(first.TryLead());
  second.Publish(Outcome(true, BootClockNowNs()));
  CHECK(first.TryLead());
}

TEST_CASE("a leader killed in its check leaves the lead free at once") {
  TempDir dir;
  std::string path = dir.file("ready.state");
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    Result<SharedResult> shared = SharedResult::Open(path, 7);
    char byte = shared.ok() && shared.value().TryLead() ? 'y' : 'n';
    if (write(ready[1], &byte, 1) != 1) _exit(2);
    pause();  // "In its check" until killed.
    _exit(0);
  }
  char byte = 0;
  REQUIRE(read(ready[0], &byte, 1) == 1);
  REQUIRE(byte == 'y');
  SharedResult shared = OpenOrFail(path);
  CHECK_FALSE(shared.TryLead());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  CHECK(shared.TryLead());
  close(ready[0]);
  close(ready[1]);
}

TEST_CASE("single flight: threads that arrive during a run share its outcome") {
  TempDir dir;
  std::string path = dir.file("ready.state");
  std::atomic<int> runs{0};
  std::vector<SharedOutcome> outcomes(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    threads.emplace_back([&, i] {
      SharedResult shared = OpenOrFail(path);
      outcomes[i] = ShieldedCheck(&shared, CacheWindow{0, 0}, 5000, Deadline::FromNow(5000), [&](const Deadline&) {
        ++runs;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        return Outcome(false, 0, "run " + std::to_string(runs.load()));
      });
    });
    if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));  // The first leads.
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(runs.load() == 1);
  for (const SharedOutcome& outcome : outcomes) CHECK(outcome.reason == "run 1");
}

TEST_CASE("a request waiting for another's run waits no longer than its own deadline") {
  TempDir dir;
  std::string path = dir.file("ready.state");
  SharedResult leader = OpenOrFail(path);
  REQUIRE(leader.TryLead());  // A run that never ends.
  SharedResult waiter = OpenOrFail(path);
  bool ran = false;
  auto started = std::chrono::steady_clock::now();
  SharedOutcome outcome = ShieldedCheck(&waiter, CacheWindow{1000, 1000}, 80, Deadline::FromNow(80), [&](const Deadline&) {
    ran = true;
    return Outcome(true, 0);
  });
  auto waited = std::chrono::steady_clock::now() - started;
  CHECK_FALSE(ran);
  CHECK_FALSE(outcome.healthy);
  CHECK(outcome.reason == "the check another request is running did not end before this one's deadline");
  CHECK(waited >= std::chrono::milliseconds(80));
  CHECK(waited < std::chrono::milliseconds(2000));
}

TEST_CASE("a fresh result answers without running; a stale one runs the check again") {
  TempDir dir;
  SharedResult shared = OpenOrFail(dir.file("ready.state"));
  int runs = 0;
  auto run = [&runs](const Deadline&) {
    ++runs;
    return Outcome(true, 0);
  };
  CacheWindow window{200, 0};
  CHECK(ShieldedCheck(&shared, window, 1000, Deadline::FromNow(1000), run).healthy);
  CHECK(ShieldedCheck(&shared, window, 1000, Deadline::FromNow(1000), run).healthy);
  CHECK(runs == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(210));
  CHECK(ShieldedCheck(&shared, window, 1000, Deadline::FromNow(1000), run).healthy);
  CHECK(runs == 2);
  CHECK(ShieldedCheck(nullptr, window, 1000, Deadline::FromNow(1000), run).healthy);  // No file: runs.
  CHECK(runs == 3);
}

TEST_CASE("a lead older than a check may last is a stopped leader's: the request checks alone") {
  TempDir dir;
  std::string path = dir.file("ready.state");
  SharedResult leader = OpenOrFail(path);
  REQUIRE(leader.TryLead());  // Then "stopped": it never publishes.
  REQUIRE(leader.LeadTakenNs().has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  SharedResult request = OpenOrFail(path);
  int runs = 0;
  SharedOutcome outcome = ShieldedCheck(&request, CacheWindow{1000, 1000}, 50, Deadline::FromNow(50), [&](const Deadline&) {
    ++runs;
    return Outcome(true, 0);
  });
  CHECK(runs == 1);
  CHECK(outcome.healthy);
  // What it found alone is shared: the next request needs no run.
  CHECK(request.Fresh(BootClockNowNs(), CacheWindow{1000, 1000}).has_value());
}

TEST_CASE("a waiter whose leader left nothing checks alone in the time it has left, and shares only health") {
  TempDir dir;
  std::string path = dir.file("ready.state");
  std::atomic<bool> leading{false};
  std::thread leader_thread([&] {
    SharedResult leader = OpenOrFail(path);
    REQUIRE(leader.TryLead());
    leading = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    leader.Resign();  // Killed, or its record refused by a full disk: nothing published.
  });
  while (!leading) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  SharedResult waiter = OpenOrFail(path);
  int64_t time_left_ms = -1;
  SharedOutcome outcome = ShieldedCheck(&waiter, CacheWindow{1000, 1000}, 1000, Deadline::FromNow(400),
                                        [&](const Deadline& deadline) {
                                          time_left_ms = deadline.remaining_ms();
                                          return Outcome(false, 0, "short of time");
                                        });
  leader_thread.join();
  CHECK_FALSE(outcome.healthy);
  CHECK(time_left_ms > 0);
  CHECK(time_left_ms <= 260);  // The request's 400 ms, less the ~150 it waited.
  CHECK_FALSE(waiter.StartedSince(0).has_value());  // A late failure is not the machine's.
  CHECK(waiter.TryLead());  // And the lead was given up.
}

TEST_CASE("a lead with no mark (the disk refused it) is not waited for") {
  TempDir dir;
  std::string path = dir.file("ready.state");
  SharedResult leader = OpenOrFail(path);
  REQUIRE(leader.TryLead());
  REQUIRE(truncate(path.c_str(), 0) == 0);  // The mark is gone, the lock is held.
  SharedResult request = OpenOrFail(path);
  int runs = 0;
  auto started = std::chrono::steady_clock::now();
  SharedOutcome outcome = ShieldedCheck(&request, CacheWindow{1000, 1000}, 5000, Deadline::FromNow(5000),
                                        [&](const Deadline&) {
                                          ++runs;
                                          return Outcome(true, 0);
                                        });
  CHECK(runs == 1);
  CHECK(outcome.healthy);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(2000));
}

TEST_CASE("the kept view answers what the file holds, and notices a file truncated or replaced") {
  TempDir dir;
  std::string path = dir.file("ready.state");
  SharedResultView view(path, 7);
  CacheWindow window{3000, 3000};
  int64_t now = BootClockNowNs();
  CHECK_FALSE(view.Fresh(now, window).has_value());  // No file yet: nothing, and no crash.
  {
    SharedResult shared = OpenOrFail(path);
    REQUIRE(shared.TryLead());
    shared.Publish(Outcome(true, now));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // Past the once-a-second look.
  std::optional<SharedOutcome> fresh = view.Fresh(BootClockNowNs(), window);
  REQUIRE(fresh.has_value());
  CHECK(fresh->healthy);
  CHECK(fresh->source == OutcomeSource::kCache);
  CHECK_FALSE(view.Fresh(now + 3000 * kMs, window).has_value());  // Past its window.
  CHECK_FALSE(view.Fresh(now - 1, window).has_value());           // Started "in the future".
  SharedResultView other_fingerprint(path, 8);
  CHECK_FALSE(other_fingerprint.Fresh(BootClockNowNs(), window).has_value());
  {
    // A new record is seen at once: the view reads the file's own pages.
    SharedResult shared = OpenOrFail(path);
    REQUIRE(shared.TryLead());
    shared.Publish(Outcome(false, BootClockNowNs(), "locked"));
  }
  fresh = view.Fresh(BootClockNowNs(), window);
  REQUIRE(fresh.has_value());
  CHECK_FALSE(fresh->healthy);
  CHECK(fresh->reason == "locked");
  REQUIRE(truncate(path.c_str(), 0) == 0);
  CHECK_FALSE(view.Fresh(BootClockNowNs(), window).has_value());  // SIGBUS without the guard.
  REQUIRE(unlink(path.c_str()) == 0);
  {
    SharedResult shared = OpenOrFail(path);  // A new file in its place.
    REQUIRE(shared.TryLead());
    shared.Publish(Outcome(true, BootClockNowNs()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  fresh = view.Fresh(BootClockNowNs(), window);
  REQUIRE(fresh.has_value());
  CHECK(fresh->healthy);
}

TEST_CASE("a record is never written over by one whose check started earlier") {
  TempDir dir;
  std::string path = dir.file("ready.state");
  SharedResult newer = OpenOrFail(path);
  SharedResult older = OpenOrFail(path);
  int64_t now = BootClockNowNs();
  // A take-over found the database down; a stopped leader, resumed, ends the
  // check it started before that, and found it up.
  newer.Publish(Outcome(false, now, "down"));
  older.Publish(Outcome(true, now - 500 * kMs));
  std::optional<SharedOutcome> kept = older.StartedSince(0);
  REQUIRE(kept.has_value());
  CHECK_FALSE(kept->healthy);
  CHECK(kept->reason == "down");
  // But a record "from the future" (another boot clock's) is no newer.
  newer.Publish(Outcome(false, now + 86400000 * kMs, "ahead"));
  older.Publish(Outcome(true, now));
  kept = older.StartedSince(0);
  REQUIRE(kept.has_value());
  CHECK(kept->healthy);
}

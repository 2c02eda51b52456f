// SharedResult: one probe's latest check result, shared by every process on
// the machine that answers it (--workers processes, CGI processes: each a
// reader of the same small file), and the lock that lets only one of them
// run the check at a time (single flight). Issue 13's flood shield.
//
// The file holds one fixed-size record, written whole with pwrite and read
// whole with pread; a checksum over it rejects a torn or foreign record. The
// runner holds flock(LOCK_EX) on the file while it checks: the kernel lets
// go of it when the runner exits or is killed, so a crash never leaves the
// probe stuck. Times are CLOCK_BOOTTIME, the same clock in every process,
// never stepped and counting through a suspend; a record from another boot
// (its boot id) is ignored. Whatever goes wrong with the file (deleted, truncated,
// unwritable, someone else's), the worst case is that the check runs again.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "deadline.h"
#include "guarded_mapping.h"
#include "status.h"

namespace healthcheck {

// How long a result may answer requests that arrive after its check
// started: success_ms after a healthy one, failure_ms after a failed one.
struct CacheWindow {
  int64_t success_ms = 0;
  int64_t failure_ms = 0;
};

// Where a request's outcome came from, for the metrics.
enum class OutcomeSource {
  kOwnRun,     // This request ran the check.
  kCache,      // A fresh result was there when it arrived.
  kSharedRun,  // It waited for a check another request was running.
};

struct SharedOutcome {
  bool healthy = false;
  OutcomeSource source = OutcomeSource::kOwnRun;
  int64_t started_ns = 0;  // CLOCK_BOOTTIME, when its check started.
  std::string reason;      // The failure's log line; empty when healthy.
  // No outcome: the request's deadline passed while another ran the check.
  bool waited_out = false;
};

// Now on CLOCK_BOOTTIME, in nanoseconds.
int64_t BootClockNowNs();

class SharedResult {
 public:
  // Opens `path`, creating it (0600) if missing; never follows a symlink.
  // `fingerprint` names the configuration and probe: a record made under
  // another (before a reload, by another configuration) is ignored.
  static Result<SharedResult> Open(const std::string& path, uint64_t fingerprint);

  SharedResult(SharedResult&& other) noexcept;
  SharedResult& operator=(SharedResult&& other) noexcept;
  SharedResult(const SharedResult&) = delete;
  SharedResult& operator=(const SharedResult&) = delete;
  ~SharedResult();

  // The recorded outcome when one may answer a request arriving at
  // `now_ns` under `window`: made under this fingerprint, started no later
  // than now and no longer ago than the window allows.
  std::optional<SharedOutcome> Fresh(int64_t now_ns, const CacheWindow& window) const;

  // The recorded outcome of a check that started at or after `since_ns`
  // (any age): what a request that waited for a run takes.
  std::optional<SharedOutcome> StartedSince(int64_t since_ns) const;

  // Becomes the one that runs the check, when no other process or thread
  // is running it; true when it did. The lead is marked with when it was
  // taken, if the file takes the mark (marked()).
  bool TryLead();
  bool marked() const { return marked_; }

  // When the lead now held was taken (by whichever process), if known.
  std::optional<int64_t> LeadTakenNs() const;

  // Becomes the one that runs the check in place of a leader that is not
  // waited for (stopped, or its lead unmarked): a second lock, in
  // PATH.takeover, so that the requests that find such a lead run one
  // check between them, not one each. True when it did, or when the
  // second lock cannot be had at all (then the check runs alone).
  bool TryTakeOver();

  // Records `outcome`, unless the file holds a newer one (a run that
  // started later, by a leader or a take-over), and gives up any lead.
  void Publish(const SharedOutcome& outcome);

  // Gives any lead up without recording anything.
  void Resign();

 private:
  SharedResult(int fd, uint64_t fingerprint, std::string path)
      : fd_(fd), fingerprint_(fingerprint), path_(std::move(path)) {}
  std::optional<SharedOutcome> Read() const;

  int fd_ = -1;
  uint64_t fingerprint_ = 0;
  std::string path_;
  bool leading_ = false;
  bool marked_ = false;
  int takeover_fd_ = -1;  // Open, and locked, while taking over.
};

// A process's kept look at one shared result file, so that a request a
// fresh result answers makes no system call: SharedResult opens the file
// and reads it (four calls or more), this maps it once and reads memory.
// The file is looked at again at most once a second, and mapped anew when
// it was truncated, deleted or replaced. Only answers fresh results: the
// lead, the wait and the record's writing stay with SharedResult.
class SharedResultView {
 public:
  SharedResultView(std::string path, uint64_t fingerprint);
  ~SharedResultView();
  SharedResultView(const SharedResultView&) = delete;
  SharedResultView& operator=(const SharedResultView&) = delete;

  // As SharedResult::Fresh, with source kCache.
  std::optional<SharedOutcome> Fresh(int64_t now_ns, const CacheWindow& window);

 private:
  void LookAgainIfDue();

  const std::string path_;
  const uint64_t fingerprint_;
  // The file's first record, in place; made at the first look, so that a
  // probe never asked for takes no slot of the SIGBUS handler's table.
  std::unique_ptr<GuardedMapping> mapping_;
  std::atomic<bool> mapped_{false};  // Else the view says nothing.
  std::atomic<int64_t> next_look_ms_{0};
  std::mutex mutex_;  // The look.
  MappedFile identity_;
};

// A run of the check, within `deadline`: the request's own, so a request
// that runs the check late has only its time left.
using CheckRun = std::function<SharedOutcome(const Deadline& deadline)>;

// The shield: the fresh recorded outcome; else, when no one is running the
// check, `run`'s (recorded for everyone); else the outcome of the run under
// way, waited for until `deadline`. A request never waits or runs past its
// own deadline, and the file never stops a check: when it cannot be used,
// or the run under way has no known start or started more than
// `check_timeout_ms` ago (its leader is stopped), or the run waited for
// left nothing (its leader died, the disk is full), the check just runs.
SharedOutcome ShieldedCheck(SharedResult* shared, const CacheWindow& window, int64_t check_timeout_ms,
                            const Deadline& deadline, const CheckRun& run);

}  // namespace healthcheck

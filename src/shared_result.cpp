// SharedResult and ShieldedCheck.
#include "shared_result.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <new>
#include <thread>
#include <utility>

#include "fnv_hash.h"
#include "own_file.h"

namespace healthcheck {
namespace {

constexpr uint32_t kMagic = 0x52534348;  // "HCSR"
constexpr uint32_t kVersion = 3;
constexpr size_t kMaxReasonBytes = 1000;
constexpr size_t kBootIdBytes = 36;  // "8-4-4-4-12" hex and dashes.
// How often a request waiting for another's run looks again: soon at
// first, then less and less often, so that many waiting CGI processes do
// not spin the machine.
constexpr auto kFirstWaitPause = std::chrono::milliseconds(1);
constexpr auto kLongestWaitPause = std::chrono::milliseconds(16);
// How long a lead may go without its mark before it is not waited for: the
// leader writes it right after taking the lock.
constexpr int64_t kMarkGraceNs = 5000000;

// The file's one record. Fixed size and layout: every process of the same
// build reads it the same way; another build's version is ignored.
struct Record {
  uint32_t magic;
  uint32_t version;
  uint64_t fingerprint;
  char boot_id[kBootIdBytes];  // The clock below counts from this boot.
  int64_t started_ns;
  uint32_t healthy;
  uint32_t reason_length;
  char reason[kMaxReasonBytes];
  uint64_t checksum;  // FNV-1a of every byte before it.
};

// When the lead was last taken, after the record: a lead older than the
// check's own timeout belongs to a leader that is stopped (SIGSTOP, a
// freezer), whose lock the kernel does not free.
struct LeadMark {
  uint32_t magic;
  uint32_t version;
  uint64_t fingerprint;
  char boot_id[kBootIdBytes];
  int64_t taken_ns;
  uint64_t checksum;
};

// Of every byte before the checksum.
uint64_t ChecksumOf(const LeadMark& mark) { return FnvHash().Add(&mark, offsetof(LeadMark, checksum)).value(); }

// Of every byte before the reason, and of the reason's own bytes (the rest
// of its room is zeros, and a request that reads a fresh result pays for
// what it hashes). `reason_length` must have been checked first.
uint64_t ChecksumOf(const Record& record) {
  return FnvHash().Add(&record, offsetof(Record, reason)).Add(record.reason, record.reason_length).value();
}

// This boot's id (/proc/sys/kernel/random/boot_id): a record from another
// boot has times on another clock, however they compare. Without /proc (a
// chroot) it is empty, for every process alike: records still match, and
// only the times tell boots apart.
const std::string& BootId() {
  static const std::string id = [] {
    char text[kBootIdBytes + 1] = {};
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (read(fd, text, kBootIdBytes) != static_cast<ssize_t>(kBootIdBytes)) text[0] = '\0';
      close(fd);
    }
    return std::string(text, strnlen(text, kBootIdBytes));
  }();
  return id;
}

// Whether `boot_id` (a record's, a mark's) is this boot's: compared in
// place, since a fresh result is read on every request.
bool IsThisBoot(const char (&boot_id)[kBootIdBytes]) {
  const std::string& ours = BootId();
  return strnlen(boot_id, kBootIdBytes) == ours.size() && memcmp(boot_id, ours.data(), ours.size()) == 0;
}

}  // namespace

int64_t BootClockNowNs() {
  // CLOCK_BOOTTIME: every process's, never stepped, and, unlike
  // CLOCK_MONOTONIC, counting while the machine is suspended, so a result
  // does not come back from a suspend looking young.
  struct timespec now;
  clock_gettime(CLOCK_BOOTTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

Result<SharedResult> SharedResult::Open(const std::string& path, uint64_t fingerprint) {
  int fd = OpenSharedFile(path, CreateFile::kYes);
  if (fd < 0) return Status::Error("cannot open the shared result " + path + ": " + strerror(errno));
  struct stat info;
  if (!IsOwnRegularFile(fd, &info)) {
    close(fd);
    return Status::Error("cannot use the shared result " + path +
                         ": not a regular file owned by this user");
  }
  return SharedResult(fd, fingerprint, path);
}

SharedResult::SharedResult(SharedResult&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      fingerprint_(other.fingerprint_),
      path_(std::move(other.path_)),
      leading_(std::exchange(other.leading_, false)),
      marked_(std::exchange(other.marked_, false)),
      takeover_fd_(std::exchange(other.takeover_fd_, -1)) {}

SharedResult& SharedResult::operator=(SharedResult&& other) noexcept {
  if (this != &other) {
    this->~SharedResult();
    new (this) SharedResult(std::move(other));
  }
  return *this;
}

SharedResult::~SharedResult() {
  // Closing gives a lead up too.
  if (takeover_fd_ >= 0) close(takeover_fd_);
  if (fd_ >= 0) close(fd_);
}

namespace {

// The outcome `record` holds, when it is whole, of this build, this boot
// and `fingerprint`.
std::optional<SharedOutcome> Decode(const Record& record, uint64_t fingerprint) {
  if (record.magic != kMagic || record.version != kVersion || record.fingerprint != fingerprint ||
      record.reason_length > kMaxReasonBytes || record.checksum != ChecksumOf(record) ||
      !IsThisBoot(record.boot_id)) {
    return std::nullopt;
  }
  SharedOutcome outcome;
  outcome.healthy = record.healthy != 0;
  outcome.started_ns = record.started_ns;
  outcome.reason.assign(record.reason, record.reason_length);
  return outcome;
}

// Whether `outcome` may answer a request arriving at `now_ns`: started no
// later than now (else it is another boot's clock) and within its window.
bool IsFresh(const SharedOutcome& outcome, int64_t now_ns, const CacheWindow& window) {
  if (outcome.started_ns > now_ns) return false;
  int64_t window_ms = outcome.healthy ? window.success_ms : window.failure_ms;
  return now_ns - outcome.started_ns < window_ms * 1000000;
}

}  // namespace

std::optional<SharedOutcome> SharedResult::Read() const {
  Record record;
  if (pread(fd_, &record, sizeof record, 0) != static_cast<ssize_t>(sizeof record)) return std::nullopt;
  return Decode(record, fingerprint_);
}

std::optional<SharedOutcome> SharedResult::Fresh(int64_t now_ns, const CacheWindow& window) const {
  std::optional<SharedOutcome> outcome = Read();
  if (!outcome || !IsFresh(*outcome, now_ns, window)) return std::nullopt;
  return outcome;
}

std::optional<SharedOutcome> SharedResult::StartedSince(int64_t since_ns) const {
  std::optional<SharedOutcome> outcome = Read();
  if (!outcome || outcome->started_ns < since_ns || outcome->started_ns > BootClockNowNs()) {
    return std::nullopt;
  }
  return outcome;
}

bool SharedResult::TryLead() {
  if (leading_) return true;
  leading_ = flock(fd_, LOCK_EX | LOCK_NB) == 0;
  marked_ = false;
  if (leading_) {
    LeadMark mark = {};
    mark.magic = kMagic;
    mark.version = kVersion;
    mark.fingerprint = fingerprint_;
    memcpy(mark.boot_id, BootId().data(), std::min(BootId().size(), kBootIdBytes));
    mark.taken_ns = BootClockNowNs();
    mark.checksum = ChecksumOf(mark);
    // Unmarked (a full disk), the lead is not waited for: with no room
    // for a mark there is none for the record either.
    marked_ = pwrite(fd_, &mark, sizeof mark, sizeof(Record)) == static_cast<ssize_t>(sizeof mark);
  }
  return leading_;
}

bool SharedResult::TryTakeOver() {
  if (takeover_fd_ >= 0) return true;
  std::string path = path_ + ".takeover";
  int fd = OpenSharedFile(path, CreateFile::kYes);
  struct stat info;
  if (fd < 0 || !IsOwnRegularFile(fd, &info)) {
    if (fd >= 0) close(fd);
    return true;  // No second lock to be had: the check runs alone.
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return false;  // Another is taking over: its run is the one to wait for.
  }
  takeover_fd_ = fd;
  return true;
}

std::optional<int64_t> SharedResult::LeadTakenNs() const {
  LeadMark mark;
  if (pread(fd_, &mark, sizeof mark, sizeof(Record)) != static_cast<ssize_t>(sizeof mark)) {
    return std::nullopt;
  }
  if (mark.magic != kMagic || mark.version != kVersion || mark.fingerprint != fingerprint_ ||
      mark.checksum != ChecksumOf(mark) || !IsThisBoot(mark.boot_id)) {
    return std::nullopt;
  }
  return mark.taken_ns;
}

void SharedResult::Publish(const SharedOutcome& outcome) {
  // Who publishes without the lead (a take-over, a late run) may find a
  // newer record there: it stays. (A newer one written between this look
  // and the write below is lost; the window is a system call long.)
  // A record "from the future" (another boot clock's) is no newer.
  std::optional<SharedOutcome> current = Read();
  if (current && current->started_ns > outcome.started_ns && current->started_ns <= BootClockNowNs()) {
    return Resign();
  }
  Record record = {};
  record.magic = kMagic;
  record.version = kVersion;
  record.fingerprint = fingerprint_;
  memcpy(record.boot_id, BootId().data(), std::min(BootId().size(), kBootIdBytes));
  record.started_ns = outcome.started_ns;
  record.healthy = outcome.healthy ? 1 : 0;
  record.reason_length = static_cast<uint32_t>(std::min(outcome.reason.size(), kMaxReasonBytes));
  memcpy(record.reason, outcome.reason.data(), record.reason_length);
  record.checksum = ChecksumOf(record);
  // A failed or short write leaves a record the checksum refuses: the
  // next request runs the check again.
  if (pwrite(fd_, &record, sizeof record, 0) != static_cast<ssize_t>(sizeof record)) {
    // Nothing more to do: see above.
  }
  Resign();
}

void SharedResult::Resign() {
  if (takeover_fd_ >= 0) close(takeover_fd_);
  takeover_fd_ = -1;
  if (!leading_) return;
  flock(fd_, LOCK_UN);
  leading_ = false;
}

namespace {

SharedOutcome RunTimed(const CheckRun& run, const Deadline& deadline) {
  int64_t started = BootClockNowNs();
  SharedOutcome outcome = run(deadline);
  outcome.started_ns = started;
  return outcome;
}

}  // namespace

SharedOutcome ShieldedCheck(SharedResult* shared, const CacheWindow& window, int64_t check_timeout_ms,
                            const Deadline& deadline, const CheckRun& run) {
  if (shared == nullptr) return RunTimed(run, deadline);
  int64_t arrived = BootClockNowNs();
  // A run that started after this record is the one this request waits for.
  std::optional<SharedOutcome> before = shared->StartedSince(0);
  int64_t waiting_for_ns = before ? before->started_ns + 1 : 0;
  // A lead whose age is unknown (no mark: the disk took none), or older
  // than a check may last (a stopped leader), or taken "in the future" (a
  // leader whose boot clock runs ahead, in a time namespace), is not waited
  // for: waiting would only fail at the deadline. Decided once, a moment
  // after arrival (a leader marks its lead just after taking the lock), so
  // that a run in its place has nearly the request's whole time.
  enum class Lead { kUndecided, kWaitedFor, kBypassed } lead = Lead::kUndecided;
  auto bypassed = [&](int64_t now) {
    if (lead == Lead::kUndecided && now - arrived >= kMarkGraceNs) {
      std::optional<int64_t> taken = shared->LeadTakenNs();
      bool stale = !taken || now - *taken > check_timeout_ms * 1000000 || *taken > now;
      lead = stale ? Lead::kBypassed : Lead::kWaitedFor;
    }
    return lead == Lead::kBypassed;
  };
  auto pause = kFirstWaitPause;
  auto shared_from = [](SharedOutcome outcome, OutcomeSource source) {
    outcome.source = source;
    return outcome;
  };
  for (bool waited = false;; waited = true) {
    int64_t now = BootClockNowNs();
    if (std::optional<SharedOutcome> fresh = shared->Fresh(now, window)) {
      return shared_from(*fresh, waited ? OutcomeSource::kSharedRun : OutcomeSource::kCache);
    }
    if (shared->TryLead()) {
      // The run this request waited for may have ended just now.
      if (std::optional<SharedOutcome> done = shared->StartedSince(waiting_for_ns)) {
        shared->Resign();
        return shared_from(*done, OutcomeSource::kSharedRun);
      }
      if (!waited) {
        SharedOutcome outcome = RunTimed(run, deadline);
        shared->Publish(outcome);
        return outcome;
      }
      // The run waited for left nothing: its leader was killed, or the
      // disk refused its record. This request runs the check in its place,
      // with the time it has left, and the other waiters wait for it;
      // unless the file took no mark (a full disk: there is nothing to
      // share, so each checks alone, at once, rather than one after another
      // behind the lock, where the last would run out of time). A failure
      // found in what was left of a request's time is that request's, not
      // the machine's: only a healthy outcome is shared.
      if (!shared->marked()) shared->Resign();
      SharedOutcome late = RunTimed(run, deadline);
      if (late.healthy) shared->Publish(late);
      shared->Resign();
      return late;
    }
    if (std::optional<SharedOutcome> done = shared->StartedSince(waiting_for_ns)) {
      return shared_from(*done, OutcomeSource::kSharedRun);
    }
    if (bypassed(now) && shared->TryTakeOver()) {
      SharedOutcome outcome = RunTimed(run, deadline);
      shared->Publish(outcome);
      return outcome;
    }
    if (deadline.expired()) {
      SharedOutcome late;
      late.source = OutcomeSource::kSharedRun;
      late.started_ns = BootClockNowNs();
      late.waited_out = true;
      late.reason = "the check another request is running did not end before this one's deadline";
      return late;
    }
    std::this_thread::sleep_for(std::min(pause, std::chrono::milliseconds(deadline.remaining_ms() + 1)));
    pause = std::min(pause * 2, kLongestWaitPause);
  }
}

}  // namespace healthcheck

namespace healthcheck {

SharedResultView::SharedResultView(std::string path, uint64_t fingerprint)
    : path_(std::move(path)), fingerprint_(fingerprint) {}

SharedResultView::~SharedResultView() = default;

std::optional<SharedOutcome> SharedResultView::Fresh(int64_t now_ns, const CacheWindow& window) {
  LookAgainIfDue();
  if (!mapped_.load(std::memory_order_acquire)) return std::nullopt;
  // A copy, checked whole: a record being written as it is copied fails
  // its checksum, and the request goes the long way.
  Record record;
  memcpy(&record, mapping_->data(), sizeof record);
  std::optional<SharedOutcome> outcome = Decode(record, fingerprint_);
  if (!outcome || !IsFresh(*outcome, now_ns, window)) return std::nullopt;
  outcome->source = OutcomeSource::kCache;
  return outcome;
}

void SharedResultView::LookAgainIfDue() {
  if (!IsDue(next_look_ms_)) return;
  std::lock_guard<std::mutex> hold(mutex_);
  if (mapped_ && !mapping_->lost() && IsStillTheFile(path_, identity_, sizeof(Record))) return;
  mapped_ = false;
  if (!mapping_) mapping_ = std::make_unique<GuardedMapping>(sizeof(Record));
  // Only an existing file of our own, whole: the leader makes it.
  int fd = OpenSharedFile(path_, CreateFile::kNo);
  if (fd < 0) return;
  struct stat info;
  if (IsOwnRegularFile(fd, &info) && static_cast<size_t>(info.st_size) >= sizeof(Record) &&
      mapping_->MapFile(fd)) {
    identity_ = MappedFile{info.st_dev, info.st_ino};
    mapped_ = true;
  }
  close(fd);
}

}  // namespace healthcheck

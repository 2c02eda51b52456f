// MachineCounters: the counters file's layout, its set-up, and the adds.
#include "machine_counters.h"

#include <errno.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <thread>
#include <utility>

#include "fnv_hash.h"
#include "own_file.h"

namespace healthcheck {
namespace {

constexpr uint64_t kMagic = 0x31544e4355434348;  // "HCCUCNT1"
// How long setting the file up may wait for another process doing it.
constexpr int kSetUpTries = 100;  // 1 ms each.

struct Header {
  uint64_t magic;
  uint64_t layout;
  uint64_t bytes;
  uint64_t worker_restarts;
};

uint64_t LayoutOf(const std::string& source, const std::vector<CheckShape>& shapes) {
  FnvHash hash;
  hash.AddText(std::to_string(kMagic) + "/" + std::to_string(sizeof(CheckCounts)) + "/" +
               std::to_string(sizeof(StepCounts)));
  hash.AddText(source);
  for (const CheckShape& shape : shapes) {
    hash.AddText(shape.probe).AddText(std::to_string(shape.steps.size()));
    for (const std::string& step : shape.steps) hash.AddText(step);
  }
  return hash.value();
}

size_t BytesOf(const std::vector<CheckShape>& shapes) {
  size_t bytes = sizeof(Header);
  for (const CheckShape& shape : shapes) bytes += sizeof(CheckCounts) + shape.steps.size() * sizeof(StepCounts);
  return bytes;
}

int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Add(uint64_t* word, uint64_t amount) { __atomic_fetch_add(word, amount, __ATOMIC_RELAXED); }
uint64_t Load(const uint64_t* word) { return __atomic_load_n(word, __ATOMIC_RELAXED); }

// Holds flock(LOCK_EX) on `fd` for a moment, or fails: a process stopped
// while setting the file up must not stop this one.
bool LockBriefly(int fd) {
  for (int i = 0; i < kSetUpTries; ++i) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

}  // namespace

MachineCounters::MachineCounters(std::string path, std::vector<CheckShape> shapes, uint64_t layout)
    : path_(std::move(path)),
      shapes_(std::move(shapes)),
      layout_(layout),
      bytes_(BytesOf(shapes_)),
      mapping_(bytes_) {}

MachineCounters::~MachineCounters() = default;

std::unique_ptr<MachineCounters> MachineCounters::Open(const std::string& folder, const std::string& source,
                                                       std::vector<CheckShape> shapes) {
  uint64_t layout = LayoutOf(source, shapes);
  char name[48];
  snprintf(name, sizeof name, "/metrics-%016llx.counters", static_cast<unsigned long long>(layout));
  std::unique_ptr<MachineCounters> counters(new MachineCounters(folder + name, std::move(shapes), layout));
  std::lock_guard<std::mutex> hold(counters->remap_mutex_);
  counters->MapAgain();
  IsDue(counters->next_look_ms_);  // The first look is a second from now.
  return counters;
}

void MachineCounters::SetProblem(std::string problem) {
  std::lock_guard<std::mutex> hold(problem_mutex_);
  problem_ = "healthcheck: metrics: " + std::move(problem);
  has_problem_ = true;
}

std::string MachineCounters::TakeProblem() {
  if (!has_problem_.load(std::memory_order_relaxed)) return {};
  std::lock_guard<std::mutex> hold(problem_mutex_);
  has_problem_ = false;
  return std::exchange(problem_, {});
}

// With remap_mutex_ held.
void MachineCounters::MapAgain() {
  auto go_private = [this](const std::string& why) {
    // Said once per change: a file that stays unusable is not a line a second.
    if (shared_ || !said_alone_) {
      SetProblem("cannot count in " + path_ + " (" + why +
                 "); this process counts alone, and the metrics say so (healthcheck_metrics_shared 0)");
      said_alone_ = true;
    }
    if (shared_) mapping_.MapPrivate();
    shared_ = false;
  };
  int fd = OpenSharedFile(path_, CreateFile::kYes);
  if (fd < 0) return go_private(strerror(errno));
  struct stat info;
  if (!IsOwnRegularFile(fd, &info)) {
    close(fd);
    return go_private("not a regular file owned by this user");
  }
  if (!LockBriefly(fd)) {
    close(fd);
    return go_private("another process holds its lock");
  }
  // Looked at again under the lock: another process may have set the file
  // up since, and counted in it.
  if (fstat(fd, &info) != 0) {
    close(fd);
    return go_private(strerror(errno));
  }
  Header header = {};
  bool ready = static_cast<size_t>(info.st_size) == bytes_ &&
               pread(fd, &header, sizeof header, 0) == static_cast<ssize_t>(sizeof header) &&
               header.magic == kMagic && header.layout == layout_ && header.bytes == bytes_;
  if (!ready) {
    // New, or damaged: set up anew, every count zero (a counter reset, which
    // Prometheus expects of a restart).
    header = Header{kMagic, layout_, bytes_, 0};
    if (ftruncate(fd, 0) != 0 || ftruncate(fd, static_cast<off_t>(bytes_)) != 0 ||
        pwrite(fd, &header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) {
      std::string why = strerror(errno);
      close(fd);  // Closing lets the lock go.
      return go_private(why);
    }
  }
  flock(fd, LOCK_UN);
  bool mapped = mapping_.MapFile(fd);
  close(fd);
  if (!mapped) return go_private("it cannot be mapped");
  identity_ = MappedFile{info.st_dev, info.st_ino};
  if (said_alone_) SetProblem("counting in " + path_ + " again");
  said_alone_ = false;
  shared_ = true;
}

void MachineCounters::KeepMapped() {
  if (!IsDue(next_look_ms_)) return;
  std::lock_guard<std::mutex> hold(remap_mutex_);
  bool still = shared_ && !mapping_.lost() && IsStillTheFile(path_, identity_, bytes_);
  if (!still) MapAgain();
}

size_t MachineCounters::CheckOffset(size_t check) const {
  size_t offset = sizeof(Header);
  for (size_t i = 0; i < check; ++i) {
    offset += sizeof(CheckCounts) + shapes_[i].steps.size() * sizeof(StepCounts);
  }
  return offset;
}

size_t MachineCounters::StepOffset(size_t check, size_t step) const {
  return CheckOffset(check) + sizeof(CheckCounts) + step * sizeof(StepCounts);
}

uint64_t* MachineCounters::Word(size_t offset) const {
  char* base = mapping_.data();
  return base == nullptr ? nullptr : reinterpret_cast<uint64_t*>(base + offset);
}

uint64_t* MachineCounters::Field(size_t check, size_t field) const {
  if (check >= shapes_.size()) return nullptr;
  return Word(CheckOffset(check) + field);
}

void MachineCounters::CountRequest(size_t check, RequestOutcome outcome) {
  KeepMapped();
  size_t field = offsetof(CheckCounts, requests) + static_cast<size_t>(outcome) * sizeof(uint64_t);
  if (uint64_t* word = Field(check, field)) Add(word, 1);
}

void MachineCounters::CountCheck(size_t check, bool healthy) {
  KeepMapped();
  size_t field = offsetof(CheckCounts, checks) + (healthy ? 0 : sizeof(uint64_t));
  if (uint64_t* word = Field(check, field)) Add(word, 1);
  if (!healthy) return;
  if (uint64_t* word = Field(check, offsetof(CheckCounts, last_success_unix_ms))) {
    __atomic_store_n(word, static_cast<uint64_t>(UnixNowMs()), __ATOMIC_RELAXED);
  }
}

void MachineCounters::CountStep(size_t check, size_t step, int64_t duration_ns) {
  KeepMapped();
  if (check >= shapes_.size() || step >= shapes_[check].steps.size()) return;
  auto* counts = reinterpret_cast<StepCounts*>(Word(StepOffset(check, step)));
  if (counts == nullptr) return;
  if (duration_ns < 0) duration_ns = 0;
  double seconds = static_cast<double>(duration_ns) / 1e9;
  size_t bucket = 0;
  while (bucket < kStepBuckets && seconds > kStepBucketBounds[bucket]) ++bucket;
  Add(&counts->buckets[bucket], 1);
  Add(&counts->sum_ns, static_cast<uint64_t>(duration_ns));
}

void MachineCounters::CountCacheHit(size_t check) {
  KeepMapped();
  if (uint64_t* word = Field(check, offsetof(CheckCounts, cache_hits))) Add(word, 1);
}

void MachineCounters::CountSharedWait(size_t check) {
  KeepMapped();
  if (uint64_t* word = Field(check, offsetof(CheckCounts, shared_waits))) Add(word, 1);
}

void MachineCounters::CountWorkerRestart() {
  KeepMapped();
  if (uint64_t* word = Word(offsetof(Header, worker_restarts))) Add(word, 1);
}

CountsSnapshot MachineCounters::Read() {
  KeepMapped();
  CountsSnapshot snapshot;
  snapshot.shared = shared_;
  const uint64_t* header = Word(0);
  if (header == nullptr) return snapshot;
  snapshot.worker_restarts = Load(Word(offsetof(Header, worker_restarts)));
  for (size_t check = 0; check < shapes_.size(); ++check) {
    const uint64_t* words = Word(CheckOffset(check));
    CheckCounts counts;
    uint64_t* into = reinterpret_cast<uint64_t*>(&counts);
    for (size_t i = 0; i < sizeof counts / 8; ++i) into[i] = Load(words + i);
    snapshot.checks.push_back(counts);
    std::vector<StepCounts> steps;
    for (size_t step = 0; step < shapes_[check].steps.size(); ++step) {
      const uint64_t* step_words = Word(StepOffset(check, step));
      StepCounts step_counts;
      uint64_t* step_into = reinterpret_cast<uint64_t*>(&step_counts);
      for (size_t i = 0; i < sizeof step_counts / 8; ++i) step_into[i] = Load(step_words + i);
      steps.push_back(step_counts);
    }
    snapshot.steps.push_back(std::move(steps));
  }
  return snapshot;
}

}  // namespace healthcheck

// MachineCounters: the metrics' counts (issue 13), shared by every process
// on the machine that answers the same configuration: each --workers
// process, the supervisor (worker restarts), and every CGI process, one
// per request. The counts live in one small file in cache_folder, mapped
// shared, and are added to with 64-bit atomic instructions: no lock, no
// system call per request, and a process killed mid-request loses at most
// the count it was adding.
//
// A file that goes wrong never stops an answer:
// - truncated under us: the SIGBUS its pages would raise is caught, the
//   pages are replaced by private memory, and the file is mapped again
//   (and set up anew) within a second;
// - deleted or replaced: noticed within a second, mapped again;
// - cannot be opened (unwritable folder, someone else's file): this
//   process counts alone, which the metrics say (healthcheck_metrics_shared
//   0) and TakeProblem hands to the next request's log, once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "guarded_mapping.h"

namespace healthcheck {

// What the counters count for one check: its probe name ("" for the
// top level) and its steps, in the order it runs them.
struct CheckShape {
  std::string probe;
  std::vector<std::string> steps;
};

enum class RequestOutcome { kHealthy = 0, kUnhealthy = 1, kDrained = 2 };
inline constexpr int kRequestOutcomes = 3;

// The step duration histogram's upper bounds, in seconds.
inline constexpr double kStepBucketBounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,   5,    10};
inline constexpr size_t kStepBuckets = sizeof kStepBucketBounds / sizeof kStepBucketBounds[0];

struct StepCounts {
  // Not cumulative: each counts its own range; the last, what lies above
  // every bound. Their total is the count, so a reader never sees a count
  // that disagrees with the buckets.
  uint64_t buckets[kStepBuckets + 1];
  uint64_t sum_ns;
};

struct CheckCounts {
  uint64_t requests[kRequestOutcomes];
  uint64_t checks[2];  // [healthy, unhealthy]: checks actually run.
  uint64_t cache_hits;
  uint64_t shared_waits;
  int64_t last_success_unix_ms;  // 0: none yet.
};

// A copy of every count, for the metrics page.
struct CountsSnapshot {
  bool shared = false;  // Counted in the machine's file, not this process alone.
  uint64_t worker_restarts = 0;
  std::vector<CheckCounts> checks;
  std::vector<std::vector<StepCounts>> steps;  // [check][step]
};

class MachineCounters {
 public:
  // Maps the counts of `shapes` (a configuration from `source`) in
  // `folder`, creating or setting up the file as needed. Never fails: on a
  // file it cannot use, it counts in this process's memory.
  static std::unique_ptr<MachineCounters> Open(const std::string& folder, const std::string& source,
                                               std::vector<CheckShape> shapes);
  ~MachineCounters();
  MachineCounters(const MachineCounters&) = delete;
  MachineCounters& operator=(const MachineCounters&) = delete;

  const std::vector<CheckShape>& shapes() const { return shapes_; }
  const std::string& path() const { return path_; }

  void CountRequest(size_t check, RequestOutcome outcome);
  void CountCheck(size_t check, bool healthy);
  void CountStep(size_t check, size_t step, int64_t duration_ns);
  void CountCacheHit(size_t check);
  void CountSharedWait(size_t check);
  void CountWorkerRestart();

  CountsSnapshot Read();

  // What went wrong with the file since the last call, for a log line;
  // empty when nothing did. Cheap: one atomic load when there is nothing.
  std::string TakeProblem();

 private:
  MachineCounters(std::string path, std::vector<CheckShape> shapes, uint64_t layout);
  void SetProblem(std::string problem);
  size_t CheckOffset(size_t check) const;
  uint64_t* Word(size_t offset) const;
  // A word of check `check`'s CheckCounts (`field`: its offset in them).
  uint64_t* Field(size_t check, size_t field) const;
  size_t StepOffset(size_t check, size_t step) const;
  // Every second, makes sure the mapping is still the file's (not
  // truncated, deleted or replaced); maps it again when not.
  void KeepMapped();
  void MapAgain();

  const std::string path_;
  const std::vector<CheckShape> shapes_;
  const uint64_t layout_;  // Names the shapes; in the file's name and header.
  const size_t bytes_;
  // The counts' memory: the file's pages, or private ones. Its address never
  // changes, so adding needs no lock against a look mapping the file anew.
  GuardedMapping mapping_;
  std::atomic<int64_t> next_look_ms_{0};
  std::mutex remap_mutex_;
  std::atomic<bool> shared_{false};  // Mapped from the file, not private memory.
  bool said_alone_ = false;  // The last problem said was counting alone.
  MappedFile identity_;  // The file now mapped, when shared_.
  std::mutex problem_mutex_;
  std::string problem_;
  std::atomic<bool> has_problem_{false};
};

}  // namespace healthcheck

// MachineCounters and MetricsPage: counts shared by every object (and
// process) that maps the same file; a file truncated, deleted, damaged or
// unusable never crashes and never stops counting; and the page's bytes.
#include "../../src/machine_counters.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "../../src/metrics_page.h"
#include "test_support.h"

using namespace healthcheck;
using healthcheck::testing::TempDir;

namespace {

std::vector<CheckShape> Shapes() {
  return {{"", {"memory_backend"}}, {"ready", {"cursor_backend", "callable (sql)"}}};
}

// Waits past the once-a-second look at the file (KeepMapped).
void PastTheNextLook() { std::this_thread::sleep_for(std::chrono::milliseconds(1100)); }

}  // namespace

TEST_CASE("two openers of the same configuration count in one file") {
  TempDir dir;
  auto first = MachineCounters::Open(dir.path(), "/etc/hc.json", Shapes());
  auto second = MachineCounters::Open(dir.path(), "/etc/hc.json", Shapes());
  first->CountRequest(1, RequestOutcome::kHealthy);
  second->CountRequest(1, RequestOutcome::kHealthy);
  second->CountRequest(1, RequestOutcome::kDrained);
  first->CountCheck(1, false);
  second->CountCacheHit(0);
  first->CountSharedWait(1);
  second->CountWorkerRestart();
  CountsSnapshot counts = first->Read();
  CHECK(counts.shared);
  CHECK(counts.checks[1].requests[0] == 2);
  CHECK(counts.checks[1].requests[2] == 1);
  CHECK(counts.checks[0].requests[0] == 0);
  CHECK(counts.checks[1].checks[1] == 1);
  CHECK(counts.checks[1].last_success_unix_ms == 0);
  CHECK(counts.checks[0].cache_hits == 1);
  CHECK(counts.checks[1].shared_waits == 1);
  CHECK(counts.worker_restarts == 1);
  CHECK(second->TakeProblem().empty());
}

TEST_CASE("a child process's counts are the parent's too") {
  TempDir dir;
  auto counters = MachineCounters::Open(dir.path(), "", Shapes());
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto own = MachineCounters::Open(dir.path(), "", Shapes());
    for (int i = 0; i < 1000; ++i) own->CountRequest(0, RequestOutcome::kUnhealthy);
    _exit(0);
  }
  for (int i = 0; i < 1000; ++i) counters->CountRequest(0, RequestOutcome::kUnhealthy);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(counters->Read().checks[0].requests[1] == 2000);
}

TEST_CASE("another configuration, or other probes, count in a file of their own") {
  TempDir dir;
  auto one = MachineCounters::Open(dir.path(), "/etc/a.json", Shapes());
  auto other = MachineCounters::Open(dir.path(), "/etc/b.json", Shapes());
  auto fewer = MachineCounters::Open(dir.path(), "/etc/a.json", {{"", {"memory_backend"}}});
  one->CountRequest(0, RequestOutcome::kHealthy);
  CHECK(other->Read().checks[0].requests[0] == 0);
  CHECK(fewer->Read().checks[0].requests[0] == 0);
  CHECK(one->path() != other->path());
  CHECK(one->path() != fewer->path());
}

TEST_CASE("steps go into their duration buckets; the count is the buckets' total") {
  TempDir dir;
  auto counters = MachineCounters::Open(dir.path(), "", Shapes());
  counters->CountStep(1, 1, 400000);       // 0.4 ms: the first bucket (0.0005 s).
  counters->CountStep(1, 1, 1000000);      // 1 ms exactly: the 0.001 s bucket.
  counters->CountStep(1, 1, 60000000000);  // 60 s: above every bound.
  counters->CountStep(1, 2, 1);            // No such step: ignored.
  counters->CountStep(7, 0, 1);            // No such check: ignored.
  CountsSnapshot counts = counters->Read();
  const StepCounts& step = counts.steps[1][1];
  CHECK(step.buckets[0] == 1);
  CHECK(step.buckets[1] == 1);
  CHECK(step.buckets[kStepBuckets] == 1);
  CHECK(step.sum_ns == 60001400000ull);
  CHECK(counts.steps[1][0].buckets[0] == 0);
}

TEST_CASE("a file truncated under the mapping neither crashes nor stops the counting") {
  TempDir dir;
  auto counters = MachineCounters::Open(dir.path(), "", Shapes());
  counters->CountRequest(0, RequestOutcome::kHealthy);
  std::string path = counters->path();
  REQUIRE(truncate(path.c_str(), 0) == 0);
  // The page is gone: this would be SIGBUS without the guard.
  counters->CountRequest(0, RequestOutcome::kHealthy);
  PastTheNextLook();
  counters->CountRequest(0, RequestOutcome::kHealthy);  // Maps the file again, set up anew.
  auto another = MachineCounters::Open(dir.path(), "", Shapes());
  another->CountRequest(0, RequestOutcome::kHealthy);
  CountsSnapshot counts = counters->Read();
  CHECK(counts.shared);
  // The reset file has the count made after mapping it again, and another's.
  CHECK(counts.checks[0].requests[0] == 2);
  struct stat info;
  REQUIRE(stat(path.c_str(), &info) == 0);
  CHECK(info.st_size > 0);
}

TEST_CASE("a file deleted or replaced is noticed within a second, and counting goes on in the new one") {
  TempDir dir;
  auto counters = MachineCounters::Open(dir.path(), "", Shapes());
  std::string path = counters->path();
  REQUIRE(unlink(path.c_str()) == 0);
  counters->CountRequest(0, RequestOutcome::kHealthy);  // Into the deleted file, still mapped.
  PastTheNextLook();
  counters->CountRequest(0, RequestOutcome::kHealthy);  // Notices; the new file.
  auto another = MachineCounters::Open(dir.path(), "", Shapes());
  CHECK(another->Read().checks[0].requests[0] == 1);
}

TEST_CASE("a damaged file is set up anew") {
  TempDir dir;
  std::string path;
  {
    auto counters = MachineCounters::Open(dir.path(), "", Shapes());
    counters->CountRequest(0, RequestOutcome::kHealthy);
    path = counters->path();
  }
  int fd = open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(pwrite(fd, "garbage!", 8, 0) == 8);
  close(fd);
  auto counters = MachineCounters::Open(dir.path(), "", Shapes());
  CountsSnapshot counts = counters->Read();
  CHECK(counts.shared);
  CHECK(counts.checks[0].requests[0] == 0);
}

TEST_CASE("an unusable folder: this process counts alone, says so once, and the page says so") {
  TempDir dir;
  std::string missing = dir.file("no-such-folder");
  auto counters = MachineCounters::Open(missing, "", Shapes());
  counters->CountRequest(0, RequestOutcome::kHealthy);
  CountsSnapshot counts = counters->Read();
  CHECK_FALSE(counts.shared);
  CHECK(counts.checks[0].requests[0] == 1);
  std::string problem = counters->TakeProblem();
  CHECK(problem.find("healthcheck: metrics: cannot count in " + missing + "/metrics-") == 0);
  CHECK(problem.find("No such file or directory); this process counts alone") != std::string::npos);
  CHECK(counters->TakeProblem().empty());
  PastTheNextLook();
  counters->CountRequest(0, RequestOutcome::kHealthy);
  CHECK(counters->TakeProblem().empty());  // Still unusable: not said again.
  CHECK(MetricsPage(counters->shapes(), counters->Read()).find("\nhealthcheck_metrics_shared 0\n") !=
        std::string::npos);
}

TEST_CASE("a symbolic link in the file's place is not followed") {
  TempDir dir;
  std::string path = MachineCounters::Open(dir.path(), "", Shapes())->path();
  REQUIRE(unlink(path.c_str()) == 0);
  std::string target = dir.file("elsewhere");
  REQUIRE(symlink(target.c_str(), path.c_str()) == 0);
  auto counters = MachineCounters::Open(dir.path(), "", Shapes());
  CHECK_FALSE(counters->Read().shared);
  CHECK(access(target.c_str(), F_OK) != 0);
}

TEST_CASE("the page: every family once, zero counts shown, last success only once there is one") {
  std::vector<CheckShape> shapes = {{"", {"memory_backend"}}};
  CountsSnapshot counts;
  counts.shared = true;
  counts.worker_restarts = 3;
  CheckCounts check = {};
  check.requests[0] = 7;
  check.checks[0] = 2;
  check.cache_hits = 5;
  counts.checks.push_back(check);
  StepCounts step = {};
  step.buckets[0] = 1;
  step.buckets[kStepBuckets] = 1;
  step.sum_ns = 12000400000ull;
  counts.steps.push_back({step});
  std::string page = MetricsPage(shapes, counts);
  CHECK(page.find("healthcheck_requests_total{probe=\"\",outcome=\"healthy\"} 7\n") != std::string::npos);
  CHECK(page.find("healthcheck_requests_total{probe=\"\",outcome=\"drained\"} 0\n") != std::string::npos);
  CHECK(page.find("healthcheck_checks_total{probe=\"\",outcome=\"healthy\"} 2\n") != std::string::npos);
  CHECK(page.find("healthcheck_cache_hits_total{probe=\"\"} 5\n") != std::string::npos);
  CHECK(page.find("healthcheck_step_duration_seconds_bucket{probe=\"\",step=\"memory_backend\",le=\"10\"} 1\n") !=
        std::string::npos);
  CHECK(page.find("healthcheck_step_duration_seconds_bucket{probe=\"\",step=\"memory_backend\",le=\"+Inf\"} 2\n") !=
        std::string::npos);
  CHECK(page.find("healthcheck_step_duration_seconds_count{probe=\"\",step=\"memory_backend\"} 2\n") !=
        std::string::npos);
  CHECK(page.find("healthcheck_step_duration_seconds_sum{probe=\"\",step=\"memory_backend\"} 12.0004\n") !=
        std::string::npos);
  CHECK(page.find("healthcheck_last_success_timestamp_seconds{") == std::string::npos);
  CHECK(page.find("\nhealthcheck_worker_restarts_total 3\n") != std::string::npos);
  CHECK(page.find("\nhealthcheck_metrics_shared 1\n") != std::string::npos);
  CHECK(page.find("\nhealthcheck_build_info{version=\"") != std::string::npos);
  counts.checks[0].last_success_unix_ms = 1795756986009;
  CHECK(MetricsPage(shapes, counts).find("healthcheck_last_success_timestamp_seconds{probe=\"\"} 1795756986.009\n") !=
        std::string::npos);
}

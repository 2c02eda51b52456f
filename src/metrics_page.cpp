// MetricsPage: counts to exposition text.
#include "metrics_page.h"

#include <algorithm>
#include <iterator>

#include "metrics_text.h"
#include "version.h"

namespace healthcheck {
namespace {

constexpr const char* kRequestOutcomeNames[kRequestOutcomes] = {"healthy", "unhealthy", "drained"};
constexpr const char* kCheckOutcomeNames[2] = {"healthy", "unhealthy"};

}  // namespace

std::string MetricsPage(const std::vector<CheckShape>& shapes, const CountsSnapshot& counts) {
  MetricsText page;
  size_t checks = std::min(shapes.size(), counts.checks.size());

  page.Family("healthcheck_requests_total", "counter", "Requests answered, by probe and outcome.");
  for (size_t c = 0; c < checks; ++c) {
    for (int o = 0; o < kRequestOutcomes; ++o) {
      page.Sample("healthcheck_requests_total", {{"probe", shapes[c].probe}, {"outcome", kRequestOutcomeNames[o]}},
                  static_cast<double>(counts.checks[c].requests[o]));
    }
  }
  page.Family("healthcheck_checks_total", "counter",
              "Checks actually run, by probe and outcome; requests minus checks is what the cache saved.");
  for (size_t c = 0; c < checks; ++c) {
    for (int o = 0; o < 2; ++o) {
      page.Sample("healthcheck_checks_total", {{"probe", shapes[c].probe}, {"outcome", kCheckOutcomeNames[o]}},
                  static_cast<double>(counts.checks[c].checks[o]));
    }
  }
  page.Family("healthcheck_cache_hits_total", "counter", "Requests answered by a fresh shared result.");
  for (size_t c = 0; c < checks; ++c) {
    page.Sample("healthcheck_cache_hits_total", {{"probe", shapes[c].probe}},
                static_cast<double>(counts.checks[c].cache_hits));
  }
  page.Family("healthcheck_shared_waits_total", "counter",
              "Requests that waited for a check another request was running.");
  for (size_t c = 0; c < checks; ++c) {
    page.Sample("healthcheck_shared_waits_total", {{"probe", shapes[c].probe}},
                static_cast<double>(counts.checks[c].shared_waits));
  }
  page.Family("healthcheck_step_duration_seconds", "histogram", "How long each step of a check took.");
  std::vector<double> bounds(std::begin(kStepBucketBounds), std::end(kStepBucketBounds));
  for (size_t c = 0; c < checks && c < counts.steps.size(); ++c) {
    for (size_t s = 0; s < shapes[c].steps.size() && s < counts.steps[c].size(); ++s) {
      const StepCounts& step = counts.steps[c][s];
      std::vector<uint64_t> buckets(std::begin(step.buckets), std::begin(step.buckets) + kStepBuckets);
      uint64_t count = 0;
      for (uint64_t in_bucket : step.buckets) count += in_bucket;
      page.Histogram("healthcheck_step_duration_seconds", {{"probe", shapes[c].probe}, {"step", shapes[c].steps[s]}},
                     bounds, buckets, count, static_cast<double>(step.sum_ns) / 1e9);
    }
  }
  page.Family("healthcheck_last_success_timestamp_seconds", "gauge",
              "When a check last passed, in seconds since the epoch; absent until one has.");
  for (size_t c = 0; c < checks; ++c) {
    if (counts.checks[c].last_success_unix_ms <= 0) continue;
    page.Sample("healthcheck_last_success_timestamp_seconds", {{"probe", shapes[c].probe}},
                static_cast<double>(counts.checks[c].last_success_unix_ms) / 1000);
  }
  page.Family("healthcheck_worker_restarts_total", "counter",
              "Worker processes the supervisor replaced (died, retired, recycled or killed).");
  page.Sample("healthcheck_worker_restarts_total", {}, static_cast<double>(counts.worker_restarts));
  page.Family("healthcheck_metrics_shared", "gauge",
              "1 when these counts are the whole machine's; 0 when this process could not use the "
              "shared file and counts alone.");
  page.Sample("healthcheck_metrics_shared", {}, counts.shared ? 1 : 0);
  page.Family("healthcheck_build_info", "gauge", "The running build; always 1.");
  page.Sample("healthcheck_build_info", {{"version", kVersion}}, 1);
  return page.text();
}

}  // namespace healthcheck

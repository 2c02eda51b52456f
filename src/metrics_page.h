// MetricsPage: the `metrics` probe's answer (issue 13), the machine's
// counts in the Prometheus text exposition format. The series, for each
// check (probe="" is the top level, which Prometheus reads as no label):
//
//   healthcheck_requests_total{probe,outcome}     answered: healthy, unhealthy, drained
//   healthcheck_checks_total{probe,outcome}       checks actually run: healthy, unhealthy
//   healthcheck_cache_hits_total{probe}           answered by a fresh shared result
//   healthcheck_shared_waits_total{probe}         waited for a check another request ran
//   healthcheck_step_duration_seconds{probe,step} histogram of each step's time
//   healthcheck_last_success_timestamp_seconds{probe}  when a check last passed
//
// and healthcheck_worker_restarts_total, healthcheck_metrics_shared (1: the
// counts are the machine's; 0: this process's alone), healthcheck_build_info.
#pragma once

#include <string>
#include <vector>

#include "machine_counters.h"

namespace healthcheck {

std::string MetricsPage(const std::vector<CheckShape>& shapes, const CountsSnapshot& counts);

// The page's Content-Type.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace healthcheck

// MetricsText: the Prometheus text exposition format (0.0.4), written by
// hand as the health+json report is: one "# HELP" and one "# TYPE" line per
// family, then all of that family's series together (promtool and
// Prometheus refuse a family split in two), label values escaped.
//
//   # HELP healthcheck_requests_total Requests answered, by probe and outcome.
//   # TYPE healthcheck_requests_total counter
//   healthcheck_requests_total{probe="ready",outcome="healthy"} 1027
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace healthcheck {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsText {
 public:
  // Starts a family: `type` is "counter", "gauge" or "histogram".
  void Family(std::string_view name, std::string_view type, std::string_view help);

  // One series of the family just started (a counter's name ends in _total).
  void Sample(std::string_view name, const MetricLabels& labels, double value);

  // A histogram's series: `bucket_counts[i]` observations were <= `bounds[i]`
  // (not cumulative: this adds them up), `count` in all, `sum` of them.
  void Histogram(std::string_view name, const MetricLabels& labels, const std::vector<double>& bounds,
                 const std::vector<uint64_t>& bucket_counts, uint64_t count, double sum);

  const std::string& text() const { return text_; }

 private:
  void Series(std::string_view name, const MetricLabels& labels, std::string_view extra_label,
              std::string_view extra_value, double value);

  std::string text_;
};

// A label value as the format wants it: backslash, double quote and
// newline escaped; invalid UTF-8 is not this format's problem (probe names
// are ASCII).
std::string EscapeLabelValue(std::string_view value);

// A sample value: whole numbers without a fraction ("1027"), others in the
// fewest digits that read back as the same double ("0.1"), and "+Inf",
// "-Inf", "NaN".
std::string FormatMetricValue(double value);

}  // namespace healthcheck

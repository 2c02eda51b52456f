// MetricsText: the exposition format's exact bytes.
#include "../../src/metrics_text.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace healthcheck;

TEST_CASE("a counter family: HELP, TYPE, then its series with labels") {
  MetricsText text;
  text.Family("healthcheck_requests_total", "counter", "Requests answered, by probe and outcome.");
  text.Sample("healthcheck_requests_total", {{"probe", "ready"}, {"outcome", "healthy"}}, 1027);
  text.Sample("healthcheck_requests_total", {{"probe", "ready"}, {"outcome", "unhealthy"}}, 0);
  CHECK(text.text() ==
        "# HELP healthcheck_requests_total Requests answered, by probe and outcome.\n"
        "# TYPE healthcheck_requests_total counter\n"
        "healthcheck_requests_total{probe=\"ready\",outcome=\"healthy\"} 1027\n"
        "healthcheck_requests_total{probe=\"ready\",outcome=\"unhealthy\"} 0\n");
}

TEST_CASE("a histogram: cumulative buckets, +Inf equal to the count, sum and count") {
  MetricsText text;
  text.Family("healthcheck_check_duration_seconds", "histogram", "Duration of a check step.");
  text.Histogram("healthcheck_check_duration_seconds", {{"step", "cursor_backend"}}, {0.001, 0.01, 0.1},
                 {3, 2, 0}, 6, 0.25);
  CHECK(text.text() ==
        "# HELP healthcheck_check_duration_seconds Duration of a check step.\n"
        "# TYPE healthcheck_check_duration_seconds histogram\n"
        "healthcheck_check_duration_seconds_bucket{step=\"cursor_backend\",le=\"0.001\"} 3\n"
        "healthcheck_check_duration_seconds_bucket{step=\"cursor_backend\",le=\"0.01\"} 5\n"
        "healthcheck_check_duration_seconds_bucket{step=\"cursor_backend\",le=\"0.1\"} 5\n"
        "healthcheck_check_duration_seconds_bucket{step=\"cursor_backend\",le=\"+Inf\"} 6\n"
        "healthcheck_check_duration_seconds_sum{step=\"cursor_backend\"} 0.25\n"
        "healthcheck_check_duration_seconds_count{step=\"cursor_backend\"} 6\n");
}

TEST_CASE("label values are escaped; values are whole, fractional or special") {
  CHECK(EscapeLabelValue("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  CHECK(FormatMetricValue(0) == "0");
  CHECK(FormatMetricValue(1e9) == "1000000000");
  CHECK(FormatMetricValue(0.5) == "0.5");
  CHECK(FormatMetricValue(0.1) == "0.1");
  CHECK(FormatMetricValue(1.0 / 3) == "0.3333333333333333");
  CHECK(FormatMetricValue(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(FormatMetricValue(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(FormatMetricValue(std::nan("")) == "NaN");
  MetricsText text;
  text.Family("healthcheck_build_info", "gauge", "Build information; the value is always 1.");
  text.Sample("healthcheck_build_info", {}, 1);
  CHECK(text.text().substr(text.text().rfind('\n', text.text().size() - 2) + 1) ==
        "healthcheck_build_info 1\n");
}

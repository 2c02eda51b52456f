// MetricsText.
#include "metrics_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

namespace healthcheck {

std::string EscapeLabelValue(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

std::string FormatMetricValue(double value) {
  if (isnan(value)) return "NaN";
  if (isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[40];
  if (value == floor(value) && fabs(value) < 1e15) {
    snprintf(text, sizeof text, "%.0f", value);
  } else {
    // The shortest that reads back as the same double: "0.1", not
    // "0.10000000000000001".
    for (int digits = 1; digits <= 17; ++digits) {
      snprintf(text, sizeof text, "%.*g", digits, value);
      if (strtod(text, nullptr) == value) break;
    }
  }
  return text;
}

void MetricsText::Family(std::string_view name, std::string_view type, std::string_view help) {
  text_.append("# HELP ").append(name).append(" ").append(help).append("\n");
  text_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void MetricsText::Sample(std::string_view name, const MetricLabels& labels, double value) {
  Series(name, labels, "", "", value);
}

void MetricsText::Histogram(std::string_view name, const MetricLabels& labels,
                            const std::vector<double>& bounds, const std::vector<uint64_t>& bucket_counts,
                            uint64_t count, double sum) {
  std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size() && i < bucket_counts.size(); ++i) {
    cumulative += bucket_counts[i];
    Series(bucket, labels, "le", FormatMetricValue(bounds[i]), static_cast<double>(cumulative));
  }
  Series(bucket, labels, "le", "+Inf", static_cast<double>(count));
  Series(std::string(name) + "_sum", labels, "", "", sum);
  Series(std::string(name) + "_count", labels, "", "", static_cast<double>(count));
}

void MetricsText::Series(std::string_view name, const MetricLabels& labels, std::string_view extra_label,
                         std::string_view extra_value, double value) {
  text_.append(name);
  if (!labels.empty() || !extra_label.empty()) {
    text_ += '{';
    bool first = true;
    for (const auto& [label, label_value] : labels) {
      if (!first) text_ += ',';
      first = false;
      text_.append(label).append("=\"").append(EscapeLabelValue(label_value)).append("\"");
    }
    if (!extra_label.empty()) {
      if (!first) text_ += ',';
      text_.append(extra_label).append("=\"").append(extra_value).append("\"");
    }
    text_ += '}';
  }
  text_.append(" ").append(FormatMetricValue(value)).append("\n");
}

}  // namespace healthcheck

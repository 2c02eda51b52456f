// AcceptsHealthJson and HealthJsonBody.
#include "health_json.h"

#include <strings.h>
#include <time.h>


#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace healthcheck {
namespace {

std::string_view Trim(std::string_view text) {
  size_t start = text.find_first_not_of(" \t");
  if (start == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(" \t");
  return text.substr(start, end - start + 1);
}

// Whether a media range's parameters refuse it: q=0 (RFC 9110 12.4.2: "not
// acceptable"), or a weight that is no qvalue at all ("nan", "2"): the
// envelope is the safe answer to a request we cannot read.
bool RefusedByQuality(std::string_view parameters) {
  while (!parameters.empty()) {
    size_t semicolon = parameters.find(';');
    std::string_view parameter = Trim(parameters.substr(0, semicolon));
    parameters = semicolon == std::string_view::npos ? std::string_view() : parameters.substr(semicolon + 1);
    if (parameter.size() < 2 || (parameter[0] != 'q' && parameter[0] != 'Q') || parameter[1] != '=') continue;
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    std::string_view value = parameter.substr(2);
    if (value.empty() || (value[0] != '0' && value[0] != '1')) return true;
    std::string_view fraction = value.substr(1);
    if (!fraction.empty() && (fraction[0] != '.' || fraction.size() > 4)) return true;
    bool nonzero = value[0] == '1';
    for (char c : fraction.substr(fraction.empty() ? 0 : 1)) {
      if (c < '0' || c > '9' || (value[0] == '1' && c != '0')) return true;
      nonzero = nonzero || c != '0';
    }
    return !nonzero;
  }
  return false;
}

// RFC 3339 in UTC with milliseconds: 2026-11-27T09:15:02.123Z.
std::string Rfc3339(std::chrono::system_clock::time_point when) {
  auto milliseconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  time_t seconds = static_cast<time_t>(milliseconds / 1000);
  struct tm utc;
  gmtime_r(&seconds, &utc);
  char text[40];
  size_t length = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(milliseconds % 1000));
  return text;
}

// The length of the well-formed UTF-8 sequence at `text[0]`, or 0.
size_t Utf8SequenceLength(std::string_view text) {
  auto byte = [&text](size_t i) { return static_cast<unsigned char>(text[i]); };
  auto continuation = [&](size_t i) { return i < text.size() && (byte(i) & 0xC0) == 0x80; };
  unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;   // Overlong.
    if (lead == 0xED && byte(1) >= 0xA0) return 0;  // A surrogate.
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && byte(1) < 0x90) return 0;   // Overlong.
    if (lead == 0xF4 && byte(1) >= 0x90) return 0;  // Past U+10FFFF.
    return 4;
  }
  return 0;
}

}  // namespace

bool AcceptsHealthJson(std::string_view accept) {
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    size_t semicolon = range.find(';');
    std::string_view type = Trim(range.substr(0, semicolon));
    if (type.size() == kHealthJsonType.size() &&
        strncasecmp(type.data(), kHealthJsonType.data(), type.size()) == 0) {
      return semicolon == std::string_view::npos || !RefusedByQuality(range.substr(semicolon + 1));
    }
  }
  return false;
}

std::string ValidUtf8(std::string_view text) {
  std::string valid;
  valid.reserve(text.size());
  while (!text.empty()) {
    size_t length = Utf8SequenceLength(text);
    if (length == 0) {
      valid += "\xEF\xBF\xBD";
      length = 1;
    } else {
      valid.append(text.data(), length);
    }
    text.remove_prefix(length);
  }
  return valid;
}

std::string HealthJsonBody(bool passed, const std::vector<CheckRecord>& records,
                           std::string_view output) {
  namespace json = rapidjson;
  json::StringBuffer buffer;
  json::Writer<json::StringBuffer> writer(buffer);
  auto text = [&writer](std::string_view value) {
    std::string valid = ValidUtf8(value);
    writer.String(valid.data(), static_cast<json::SizeType>(valid.size()));
  };
  writer.StartObject();
  writer.Key("status");
  writer.String(passed ? "pass" : "fail");
  if (!output.empty()) {
    writer.Key("output");
    text(output);
  }
  writer.Key("checks");
  writer.StartObject();
  for (const CheckRecord& record : records) {
    text(record.name + ":responseTime");
    writer.StartArray();
    writer.StartObject();
    writer.Key("observedValue");
    // Whole microseconds: a reading, not float noise.
    writer.Double(static_cast<double>(static_cast<int64_t>(record.duration_ms * 1000 + 0.5)) / 1000);
    writer.Key("observedUnit");
    writer.String("ms");
    writer.Key("status");
    writer.String(record.passed ? "pass" : "fail");
    writer.Key("time");
    text(Rfc3339(record.finished_at));
    if (!record.passed) {
      writer.Key("output");
      text(record.reason);
    }
    writer.EndObject();
    writer.EndArray();
  }
  writer.EndObject();
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace healthcheck

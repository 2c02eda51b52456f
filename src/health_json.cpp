// AcceptsHealthJson and HealthJsonBody.
#include "health_json.h"

#include <strings.h>
#include <time.h>


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

// Appends `value` as exactly `digits` decimal digits.
void AppendDigits(std::string& out, long value, int digits) {
  char text[8];
  for (int i = digits - 1; i >= 0; --i) {
    text[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(text, static_cast<size_t>(digits));
}

// RFC 3339 in UTC with milliseconds: 2026-11-27T09:15:02.123Z. Digits by
// hand: strftime and snprintf were a fifth of the report's cost.
void AppendRfc3339(std::string& out, std::chrono::system_clock::time_point when) {
  auto milliseconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  time_t seconds = static_cast<time_t>(milliseconds / 1000);
  struct tm utc;
  gmtime_r(&seconds, &utc);
  AppendDigits(out, utc.tm_year + 1900L, 4);
  out += '-';
  AppendDigits(out, utc.tm_mon + 1, 2);
  out += '-';
  AppendDigits(out, utc.tm_mday, 2);
  out += 'T';
  AppendDigits(out, utc.tm_hour, 2);
  out += ':';
  AppendDigits(out, utc.tm_min, 2);
  out += ':';
  AppendDigits(out, utc.tm_sec, 2);
  out += '.';
  AppendDigits(out, static_cast<long>(milliseconds % 1000), 3);
  out += 'Z';
}

// A duration in whole microseconds, as a JSON number of milliseconds:
// 0.012, 1.5, 2000.1, 3.
void AppendMilliseconds(std::string& out, double milliseconds) {
  long long micro = static_cast<long long>(milliseconds * 1000 + 0.5);
  if (micro < 0) micro = 0;
  out += std::to_string(micro / 1000);
  int fraction = static_cast<int>(micro % 1000);
  if (fraction == 0) return;
  int digits = 3;
  while (fraction % 10 == 0) {
    fraction /= 10;
    --digits;
  }
  out += '.';
  AppendDigits(out, fraction, digits);
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

// Appends `text` as a JSON string: quoted, escaped, and valid UTF-8 (each
// byte that is not part of a well-formed sequence becomes U+FFFD).
void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  while (!text.empty()) {
    unsigned char c = static_cast<unsigned char>(text[0]);
    size_t length = 1;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      length = Utf8SequenceLength(text);
      if (length == 0) {
        out += "\xEF\xBF\xBD";
        length = 1;
      } else {
        out.append(text.data(), length);
      }
    }
    text.remove_prefix(length);
  }
  out += '"';
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

// Written by hand, not through a JSON library: the report has one fixed
// shape, and only its strings vary. bench/README.md has the figures.
std::string HealthJsonBody(bool passed, const std::vector<CheckRecord>& records,
                           std::string_view output) {
  std::string body;
  body.reserve(64 + output.size() + records.size() * 160);
  body += passed ? R"({"status":"pass")" : R"({"status":"fail")";
  if (!output.empty()) {
    body += R"(,"output":)";
    AppendJsonString(body, output);
  }
  body += R"(,"checks":{)";
  for (size_t i = 0; i < records.size(); ++i) {
    const CheckRecord& record = records[i];
    if (i > 0) body += ',';
    AppendJsonString(body, record.name);
    body.pop_back();  // Reopen the name's string for the measurement's suffix.
    body += R"(:responseTime":[{"observedValue":)";
    AppendMilliseconds(body, record.duration_ms);
    body += R"(,"observedUnit":"ms","status":)";
    body += record.passed ? R"("pass")" : R"("fail")";
    body += R"(,"time":")";
    AppendRfc3339(body, record.finished_at);
    body += '"';
    if (!record.passed) {
      body += R"(,"output":)";
      AppendJsonString(body, record.reason);
    }
    body += "}]";
  }
  body += "}}";
  return body;
}

}  // namespace healthcheck

// The clearskies envelope, the health+json report, and the headers around them.
#include "response.h"

namespace healthcheck {
namespace {

constexpr std::string_view kSuccessBody =
    R"({"status":"success","error":"","data":{},"pagination":{},"input_errors":{}})";
// clearskies' failure response: the error text stays empty on the public URL.
constexpr std::string_view kFailureBody =
    R"({"status":"failure","error":"","data":[],"pagination":{},"input_errors":{}})";

struct StatusLine {
  int code;
  const char* line;
};
// Index 0 is the healthy answer.
constexpr StatusLine kStatusLines[] = {{200, "Status: 200 OK\r\n"},
                                       {kNotFound, "Status: 404 Not Found\r\n"},
                                       {kInternalServerError, "Status: 500 Internal Server Error\r\n"},
                                       {kServiceUnavailable, "Status: 503 Service Unavailable\r\n"},
                                       {kForbidden, "Status: 403 Forbidden\r\n"}};
constexpr int kAnswerKinds = sizeof kStatusLines / sizeof kStatusLines[0];
constexpr int kInternalServerErrorKind = 2;

const StatusLine& StatusLineFor(int code) {
  for (const StatusLine& status : kStatusLines) {
    if (status.code == code) return status;
  }
  return kStatusLines[kInternalServerErrorKind];
}

std::string BuildBytes(const char* status_line, std::string_view content_type,
                       std::string_view body, BodyMode body_mode) {
  std::string bytes;
  // One allocation: the report's answer is built per request.
  bytes.reserve(160 + body.size());
  bytes += status_line;
  bytes += "Content-Type: ";
  bytes += content_type;
  bytes += "\r\n";
  // Load balancers and monitors must see the current answer, never a cached one.
  bytes += "Cache-Control: no-store\r\n";
  // The same URL answers an authorised health+json caller differently.
  bytes += "Vary: Accept, Authorization\r\n";
  // HEAD announces the length the GET body would have (RFC 9110 9.3.2).
  bytes += "Content-Length: ";
  bytes += std::to_string(body.size());
  bytes += "\r\n\r\n";
  if (body_mode == BodyMode::kWithBody) bytes.append(body);
  return bytes;
}

struct Answers {
  std::string bytes[kAnswerKinds][2];  // [kind][with body, headers only]
  Answers() {
    for (int kind = 0; kind < kAnswerKinds; ++kind) {
      std::string_view body = EnvelopeBody(kind == 0 ? Health::kHealthy : Health::kUnhealthy);
      for (BodyMode mode : {BodyMode::kWithBody, BodyMode::kHeadersOnly}) {
        bytes[kind][static_cast<int>(mode)] =
            BuildBytes(kStatusLines[kind].line, "application/json", body, mode);
      }
    }
  }
};

}  // namespace

std::string_view EnvelopeBody(Health health) {
  return health == Health::kHealthy ? kSuccessBody : kFailureBody;
}

Response MakeResponse(Health health, BodyMode body_mode, int failure_status) {
  // Built once: a request only picks one.
  static const Answers kAnswers;
  int kind = 0;
  if (health == Health::kUnhealthy) {
    kind = static_cast<int>(&StatusLineFor(failure_status) - kStatusLines);
    if (kind == 0) kind = kInternalServerErrorKind;  // 200 is no failure status.
  }
  return Response{kStatusLines[kind].code, kAnswers.bytes[kind][static_cast<int>(body_mode)], nullptr};
}

Response MakeHealthJsonResponse(int status_code, std::string_view body, BodyMode body_mode) {
  return MakeTextResponse(status_code, "application/health+json", body, body_mode);
}

Response MakeTextResponse(int status_code, std::string_view content_type, std::string_view body,
                          BodyMode body_mode) {
  const StatusLine& status = StatusLineFor(status_code);
  auto built = std::make_shared<const std::string>(BuildBytes(status.line, content_type, body, body_mode));
  return Response{status.code, *built, built};
}

}  // namespace healthcheck

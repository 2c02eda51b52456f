// The clearskies envelope and the headers around it.
#include "response.h"

#include <string>

namespace healthcheck {
namespace {

constexpr std::string_view kSuccessBody =
    R"({"status":"success","error":"","data":{},"pagination":{},"input_errors":{}})";
// clearskies' failure response: the error text stays empty on the public URL.
constexpr std::string_view kFailureBody =
    R"({"status":"failure","error":"","data":[],"pagination":{},"input_errors":{}})";

// Index 0 is the healthy answer; then one per FailureStatus.
constexpr const char* kStatusLines[] = {"Status: 200 OK\r\n",
                                        "Status: 500 Internal Server Error\r\n",
                                        "Status: 503 Service Unavailable\r\n"};
constexpr int kStatusCodes[] = {200, 500, 503};
constexpr int kAnswerKinds = sizeof kStatusCodes / sizeof kStatusCodes[0];

std::string BuildBytes(int kind, BodyMode body_mode) {
  std::string_view body = EnvelopeBody(kind == 0 ? Health::kHealthy : Health::kUnhealthy);
  std::string bytes = kStatusLines[kind];
  bytes += "Content-Type: application/json\r\n";
  // Load balancers and monitors must see the current answer, never a cached one.
  bytes += "Cache-Control: no-store\r\n";
  // HEAD announces the length the GET body would have (RFC 9110 9.3.2).
  bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  if (body_mode == BodyMode::kWithBody) bytes.append(body);
  return bytes;
}

struct Answers {
  std::string bytes[kAnswerKinds][2];  // [kind][with body, headers only]
  Answers() {
    for (int kind = 0; kind < kAnswerKinds; ++kind) {
      bytes[kind][0] = BuildBytes(kind, BodyMode::kWithBody);
      bytes[kind][1] = BuildBytes(kind, BodyMode::kHeadersOnly);
    }
  }
};

}  // namespace

std::string_view EnvelopeBody(Health health) {
  return health == Health::kHealthy ? kSuccessBody : kFailureBody;
}

Response MakeResponse(Health health, BodyMode body_mode, FailureStatus failure_status) {
  // Built once: a request only picks one.
  static const Answers kAnswers;
  int kind = health == Health::kHealthy ? 0 : 1 + static_cast<int>(failure_status);
  return Response{kStatusCodes[kind], kAnswers.bytes[kind][body_mode == BodyMode::kWithBody ? 0 : 1]};
}

}  // namespace healthcheck

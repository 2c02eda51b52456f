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

std::string BuildBytes(Health health, BodyMode body_mode) {
  std::string_view body = EnvelopeBody(health);
  std::string bytes = health == Health::kHealthy ? "Status: 200 OK\r\n"
                                                 : "Status: 500 Internal Server Error\r\n";
  bytes += "Content-Type: application/json\r\n";
  // Load balancers and monitors must see the current answer, never a cached one.
  bytes += "Cache-Control: no-store\r\n";
  // HEAD announces the length the GET body would have (RFC 9110 9.3.2).
  bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  if (body_mode == BodyMode::kWithBody) bytes.append(body);
  return bytes;
}

}  // namespace

std::string_view EnvelopeBody(Health health) {
  return health == Health::kHealthy ? kSuccessBody : kFailureBody;
}

Response MakeResponse(Health health, BodyMode body_mode) {
  static const std::string kAnswers[2][2] = {
      {BuildBytes(Health::kHealthy, BodyMode::kWithBody),
       BuildBytes(Health::kHealthy, BodyMode::kHeadersOnly)},
      {BuildBytes(Health::kUnhealthy, BodyMode::kWithBody),
       BuildBytes(Health::kUnhealthy, BodyMode::kHeadersOnly)},
  };
  const std::string& bytes =
      kAnswers[health == Health::kHealthy ? 0 : 1][body_mode == BodyMode::kWithBody ? 0 : 1];
  return Response{health == Health::kHealthy ? 200 : 500, bytes};
}

}  // namespace healthcheck

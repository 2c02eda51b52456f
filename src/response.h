// Response: the clearskies envelope, byte for byte, as a CGI-style header
// block and body. The four possible answers (healthy or not, with or without
// a body) are built once and shared, so a request only picks one.
#pragma once

#include <string_view>

namespace healthcheck {

enum class Health { kHealthy, kUnhealthy };
enum class BodyMode { kWithBody, kHeadersOnly };  // kHeadersOnly answers HEAD.

struct Response {
  int status_code;
  // "Status: ...\r\n" headers, a blank line, then the body (unless HEAD).
  std::string_view bytes;
};

// The status of an unhealthy answer: clearskies' 500, or the 503 that load
// balancer guides and other health libraries use. The body is the same.
enum class FailureStatus { kInternalServerError, kServiceUnavailable };

Response MakeResponse(Health health, BodyMode body_mode,
                      FailureStatus failure_status = FailureStatus::kInternalServerError);

// The JSON bodies alone, as clearskies writes them.
std::string_view EnvelopeBody(Health health);

}  // namespace healthcheck

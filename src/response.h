// Response: the clearskies envelope, byte for byte, as a CGI-style header
// block and body. The envelope answers (healthy or not, each status, with or
// without a body) are built once and shared, so a request only picks one.
// The detailed health+json report, for authorised callers, is built per
// request.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace healthcheck {

enum class Health { kHealthy, kUnhealthy };
enum class BodyMode { kWithBody, kHeadersOnly };  // kHeadersOnly answers HEAD.

// The statuses an unhealthy answer may carry: clearskies' 500, the 503 that
// load balancer guides use, and 404 for a drained probe (HAProxy's
// disable-on-404).
inline constexpr int kForbidden = 403;  // The metrics, to an anonymous caller.
inline constexpr int kNotFound = 404;
inline constexpr int kInternalServerError = 500;
inline constexpr int kServiceUnavailable = 503;

struct Response {
  int status_code;
  // "Status: ...\r\n" headers, a blank line, then the body (unless HEAD).
  std::string_view bytes;
  // Holds `bytes` when they were built for this request; shared, so a copy
  // of the Response still points at live bytes.
  std::shared_ptr<const std::string> built;
};

// The envelope. `failure_status` (404, 500 or 503) is used when unhealthy;
// any other number is taken as 500.
Response MakeResponse(Health health, BodyMode body_mode, int failure_status = kInternalServerError);

// The detailed report: `body` as application/health+json, with `status_code`.
Response MakeHealthJsonResponse(int status_code, std::string_view body, BodyMode body_mode);

// Any other answer built for its request: `body` as `content_type`, with
// `status_code` (200, 403, 404, 500 or 503; others are taken as 500).
Response MakeTextResponse(int status_code, std::string_view content_type, std::string_view body,
                          BodyMode body_mode);

// The JSON bodies alone, as clearskies writes them.
std::string_view EnvelopeBody(Health health);

}  // namespace healthcheck

// Request: the little of an HTTP request that a health check looks at.
// Transports copy it out of their own types (CGI environment, FastCGI params)
// so nothing below them sees those.
#pragma once

#include <string>

namespace healthcheck {

struct Request {
  std::string method = "GET";

  bool is_head() const { return method == "HEAD"; }
};

}  // namespace healthcheck

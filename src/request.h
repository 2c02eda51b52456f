// Request: the little of an HTTP request that a health check looks at.
// Transports copy it out of their own types (CGI environment, FastCGI params)
// so nothing below them sees those.
#pragma once

#include <string>

namespace healthcheck {

struct Request {
  std::string method = "GET";
  // Chooses the probe: PATH_INFO when set, else SCRIPT_NAME, else DOCUMENT_URI.
  std::string path;
  std::string accept;         // HTTP_ACCEPT: asks for the health+json report.
  std::string authorization;  // HTTP_AUTHORIZATION: "Bearer TOKEN".
  std::string remote_addr;    // REMOTE_ADDR as the server saw it; never a forwarded-for header.

  bool is_head() const { return method == "HEAD"; }
};

// Fills a Request from CGI-style variables (RFC 3875). `lookup(name)` returns
// the value or nullptr; an empty PATH_INFO counts as unset, as nginx sends one
// when its split regex did not match.
template <typename Lookup>
Request RequestFromVariables(Lookup lookup) {
  Request request;
  auto copy = [&lookup](const char* name, std::string& into) {
    const char* value = lookup(name);
    if (value != nullptr) into = value;
    return value != nullptr && *value != '\0';
  };
  copy("REQUEST_METHOD", request.method);
  if (!copy("PATH_INFO", request.path) && !copy("SCRIPT_NAME", request.path)) {
    copy("DOCUMENT_URI", request.path);
  }
  copy("HTTP_ACCEPT", request.accept);
  copy("HTTP_AUTHORIZATION", request.authorization);
  copy("REMOTE_ADDR", request.remote_addr);
  return request;
}

}  // namespace healthcheck

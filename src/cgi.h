// The plain CGI front end: one request from the environment and stdin,
// answered on stdout, for shared hosting where a process per request is all
// there is.
#pragma once

#include <string>
#include <vector>

#include "app.h"
#include "log.h"

namespace healthcheck {

// Answers the request described by this process's environment. `app` is
// null when the configuration could not be loaded: the answer is then the
// failure response (the reason was already logged). Returns the exit code.
int ServeCgiRequest(const App* app, Log& log);

// True when `arguments` (argv without argv[0]) are the search words a web
// server made of `query_string`: RFC 3875 4.4 lets a server pass a query
// with no '=' to a CGI program as its command line (Apache does, split at
// '+', %-decoded, shell characters escaped with '\'). They are the
// client's words, never flags: "/health?--listen+0.0.0.0:9000" must not
// start a server. `query_string` may be null.
bool AreCgiSearchWords(const std::vector<std::string>& arguments, const char* query_string);

}  // namespace healthcheck

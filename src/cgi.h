// The plain CGI front end: one request from the environment and stdin,
// answered on stdout, for shared hosting where a process per request is all
// there is.
#pragma once

#include "app.h"
#include "log.h"

namespace healthcheck {

// Answers the request described by this process's environment. `app` is
// null when the configuration could not be loaded: the answer is then the
// failure response (the reason was already logged). Returns the exit code.
int ServeCgiRequest(const App* app, Log& log);

}  // namespace healthcheck

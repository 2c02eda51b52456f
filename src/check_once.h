// The one-shot front end (--check): run the check once, print the body, and
// exit 0 when healthy or 1 when not. For container HEALTHCHECK and cron.
#pragma once

#include "app.h"
#include "log.h"

namespace healthcheck {

// Runs the check once (the probe named `probe`, or the top-level check when
// it is empty) and prints the body (nothing when healthy and `quiet`); the
// reasons of a failure go to `log`. Returns the exit code; a probe the
// configuration does not have is a usage error, never the top-level check.
int RunCheckOnce(const App& app, const std::string& probe, bool quiet, Log& log);

}  // namespace healthcheck

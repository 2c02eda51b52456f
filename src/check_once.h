// The one-shot front end (--check): run the check once, print the body, and
// exit 0 when healthy or 1 when not. For container HEALTHCHECK and cron.
#pragma once

#include "app.h"
#include "log.h"

namespace healthcheck {

int RunCheckOnce(const App& app, Log& log);

}  // namespace healthcheck

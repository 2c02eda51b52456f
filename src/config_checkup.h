// What --test-config proves beyond the file's syntax: everything a check
// needs that can be tried without changing anything, as the user the test
// runs as (the web server's or the service's user, when run as it).
#pragma once

#include <string>
#include <vector>

#include "config.h"

namespace healthcheck {

// One line per problem: what failed, where, and as whom, e.g.
//   "cursor_backend.database: cannot open "/srv/app.db": unable to open
//    database file (No such file or directory); as user nobody (uid 65534)"
// Empty when every check could run. The database is opened read-only, as a
// check opens it; the sql query is prepared against it, never run; the
// command is looked at, never started.
std::vector<std::string> FindConfigProblems(const Config& config);

// "user nobody (uid 65534)", or "uid 1234" when the user has no name.
std::string RunningUserDescription();

}  // namespace healthcheck

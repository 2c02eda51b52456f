// The hand-over to a driver's program. `healthcheck` itself is linked
// statically and has no database client library, so that CGI's cost per
// request and the idle memory of every deployment that checks SQLite (or
// nothing) stay as they are. A configuration whose cursor_backend uses
// mysql or postgresql is served by healthcheck-mysql or
// healthcheck-postgresql, installed beside it: built from the same sources,
// with libmariadb or libpq linked dynamically (they load their own
// authentication plugins, which a static program cannot do safely).
#pragma once

#include "config.h"
#include "status.h"

namespace healthcheck {

// Ok when this program can serve `config`: its cursor_backend's driver,
// if any, is linked in. A reload that would need another program is
// refused with this.
Status CheckDriverLinked(const Config& config);

// When this program cannot serve `config`, replaces the process with the
// driver's program (execv: the same arguments, environment, process id and
// open descriptors, so a listening socket and systemd's LISTEN_PID carry
// over). Returns only when there is nothing to do (ok) or the hand-over
// failed (the reason, naming the program).
Status HandOverToDriverProgram(const Config& config, char** argv);

}  // namespace healthcheck

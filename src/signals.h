// Process-wide signal set-up. main() calls PrepareSignals() before anything
// else runs, so that no signal arrives while a library (libfcgi's
// FCGX_Init, say) has a handler of its own in place: the stop and reload
// signals are blocked in every thread and taken with sigtimedwait by the
// FastCGI server or the master. CGI and --check have nobody waiting for
// them, so they let them terminate the process instead.
#pragma once

#include <signal.h>

namespace healthcheck {

// SIGTERM, SIGINT, SIGUSR1 (stop) and SIGHUP (reload).
sigset_t ServerSignals();

// Resets the server signals to their default action (an inherited SIG_IGN,
// from nohup say, would discard them before sigtimedwait could see them),
// blocks them, and ignores SIGPIPE, so that a write to a vanished web
// server or log reader fails with EPIPE instead of killing the process;
// and SIGXFSZ, so that a write past a file size limit fails with EFBIG.
void PrepareSignals();

// For one-request processes (CGI, --check): the server signals end the
// process, as they would any CGI program, after killing the process group
// of any command the check is running.
void TerminateOnServerSignals();

}  // namespace healthcheck

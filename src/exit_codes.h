// Process exit codes, from sysexits(3) where one fits.
#pragma once

namespace healthcheck {

constexpr int kExitOk = 0;
constexpr int kExitUnhealthy = 1;  // --check found the application unhealthy.
constexpr int kExitUsage = 64;     // EX_USAGE: bad flags, or no mode to run in.
constexpr int kExitSoftware = 70;  // EX_SOFTWARE: the server could not run.
constexpr int kExitOsError = 71;   // EX_OSERR: a socket could not be opened.
constexpr int kExitConfig = 78;    // EX_CONFIG: the configuration is invalid.

}  // namespace healthcheck

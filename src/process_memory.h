// How much memory a process holds resident, from /proc: the master reads
// its workers', and each FastCGI server its own.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace healthcheck {

// Resident bytes of `pid` (0: this process), or -1 when it cannot be read.
int64_t ResidentBytes(pid_t pid);

}  // namespace healthcheck

// RecyclingAllocator: SQLite's memory, kept per thread for the next request.
//
// Opening a connection (per request in CGI mode; in FastCGI mode on a
// thread's first check, or when the file was replaced or a check failed),
// SQLite allocates some 450 blocks while it registers its built-in
// functions and modules, and frees them all at close; queries allocate and
// free too. When every check opened its own connection, glibc's malloc
// spent more instructions on that than SQLite on the check itself. This
// allocator keeps freed blocks on
// per-thread lists by size class, so the next request on the thread takes
// them back in a few instructions: from the second open on, an open makes
// no call to malloc at all.
//
// A thread keeps at most kMaxCachedBytesPerThread; beyond that, and for
// blocks above the largest class, blocks go back to malloc. A block freed on
// another thread than the one that allocated it simply joins that thread's
// lists. What a thread holds is returned when it exits.
//
// The signatures are those of sqlite3_mem_methods, which the caller fills
// in (this file does not include sqlite3.h).
#pragma once

#include <stddef.h>

namespace healthcheck {
namespace recycling_allocator {

constexpr size_t kMaxCachedBytesPerThread = 1 << 20;

void* Allocate(int bytes);
void Free(void* block);
void* Reallocate(void* block, int bytes);
// The bytes usable in `block`, at least what was asked for.
int UsableSize(void* block);
// What Allocate(bytes) would make usable.
int RoundUp(int bytes);

// For tests: the bytes the calling thread holds for reuse.
size_t CachedBytesOnThisThread();

}  // namespace recycling_allocator
}  // namespace healthcheck

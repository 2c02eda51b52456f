#include "recycling_allocator.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

namespace healthcheck {
namespace recycling_allocator {
namespace {

// Classes are powers of two, 16 bytes to 64 KiB: a class index is a count
// of leading zeros, and a block's usable size names its class.
constexpr int kSmallestClassShift = 4;
constexpr int kLargestClassShift = 16;
constexpr int kClassCount = kLargestClassShift - kSmallestClassShift + 1;
constexpr size_t kLargestClassBytes = size_t{1} << kLargestClassShift;

// Each block starts with its usable size; 16 bytes keep the caller's part
// aligned as malloc's is.
struct alignas(16) Header {
  size_t usable;
};

struct FreeBlock {
  FreeBlock* next;
};

// Constant-initialised, so reaching them costs no guard check.
struct ThreadLists {
  FreeBlock* heads[kClassCount];
  size_t cached_bytes;
  bool releaser_armed;
  bool thread_exiting;
};
thread_local ThreadLists lists = {};

// Returns a thread's cached blocks to malloc when the thread exits. Built
// the first time the thread caches a block.
struct Releaser {
  ~Releaser() {
    lists.thread_exiting = true;
    for (FreeBlock*& head : lists.heads) {
      while (head != nullptr) {
        FreeBlock* next = head->next;
        free(reinterpret_cast<Header*>(head) - 1);
        head = next;
      }
    }
    lists.cached_bytes = 0;
  }
};
thread_local Releaser releaser;

size_t ClassBytes(size_t bytes) {
  if (bytes <= (size_t{1} << kSmallestClassShift)) return size_t{1} << kSmallestClassShift;
  return size_t{1} << (64 - __builtin_clzll(bytes - 1));
}

// What a request for `wanted` bytes gets: its class, or above the largest
// class, `wanted` rounded to 8 so that SQLite keeps its 8-byte multiples.
size_t UsableBytesFor(size_t wanted) {
  if (wanted > kLargestClassBytes) return (wanted + 7) & ~size_t{7};
  return ClassBytes(wanted);
}

int ClassIndex(size_t class_bytes) {
  return (63 - __builtin_clzll(class_bytes)) - kSmallestClassShift;
}

Header* HeaderOf(void* block) { return static_cast<Header*>(block) - 1; }

}  // namespace

void* Allocate(int bytes) {
  if (bytes < 0) return nullptr;
  size_t usable = UsableBytesFor(static_cast<size_t>(bytes));
  if (usable <= kLargestClassBytes) {
    FreeBlock*& head = lists.heads[ClassIndex(usable)];
    if (head != nullptr) {
      FreeBlock* block = head;
      head = block->next;
      lists.cached_bytes -= usable;
      return block;
    }
  }
  auto* header = static_cast<Header*>(malloc(sizeof(Header) + usable));
  if (header == nullptr) return nullptr;
  header->usable = usable;
  return header + 1;
}

void Free(void* block) {
  if (block == nullptr) return;
  Header* header = HeaderOf(block);
  size_t usable = header->usable;
  bool cacheable = usable <= kLargestClassBytes && !lists.thread_exiting &&
                   lists.cached_bytes + usable <= kMaxCachedBytesPerThread;
  if (!cacheable) {
    free(header);
    return;
  }
  if (!lists.releaser_armed) {
    lists.releaser_armed = true;
    (void)&releaser;  // Constructs it, which registers its destructor.
  }
  auto* free_block = static_cast<FreeBlock*>(block);
  FreeBlock*& head = lists.heads[ClassIndex(usable)];
  free_block->next = head;
  head = free_block;
  lists.cached_bytes += usable;
}

void* Reallocate(void* block, int bytes) {
  if (block == nullptr) return Allocate(bytes);
  if (bytes < 0) return nullptr;
  size_t usable = HeaderOf(block)->usable;
  if (static_cast<size_t>(bytes) <= usable) return block;
  void* grown = Allocate(bytes);
  if (grown == nullptr) return nullptr;  // SQLite keeps the old block.
  memcpy(grown, block, usable);
  Free(block);
  return grown;
}

int UsableSize(void* block) {
  return block == nullptr ? 0 : static_cast<int>(HeaderOf(block)->usable);
}

int RoundUp(int bytes) {
  return static_cast<int>(UsableBytesFor(bytes <= 0 ? 0 : static_cast<size_t>(bytes)));
}

size_t CachedBytesOnThisThread() { return lists.cached_bytes; }

}  // namespace recycling_allocator
}  // namespace healthcheck

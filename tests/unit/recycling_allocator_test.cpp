// The per-thread block cache behind SQLite's memory.
#include "../../src/backends/recycling_allocator.h"

#include <doctest/doctest.h>
#include <string.h>

#include <thread>
#include <vector>

namespace allocator = healthcheck::recycling_allocator;

TEST_CASE("a freed block is handed out again to the next request of its class") {
  void* first = allocator::Allocate(100);
  REQUIRE(first != nullptr);
  allocator::Free(first);
  void* second = allocator::Allocate(120);  // Same class: 128 bytes.
  CHECK(second == first);
  void* other_class = allocator::Allocate(300);
  CHECK(other_class != first);
  allocator::Free(second);
  allocator::Free(other_class);
}

TEST_CASE("usable sizes cover the request and agree with RoundUp") {
  for (int bytes : {1, 15, 16, 17, 100, 4096, 4097, 65536, 65537, 200000}) {
    void* block = allocator::Allocate(bytes);
    REQUIRE(block != nullptr);
    CHECK(allocator::UsableSize(block) >= bytes);
    CHECK(allocator::UsableSize(block) == allocator::RoundUp(bytes));
    CHECK(reinterpret_cast<uintptr_t>(block) % 16 == 0);
    memset(block, 0xab, static_cast<size_t>(allocator::UsableSize(block)));
    allocator::Free(block);
  }
  CHECK(allocator::RoundUp(8) == 16);
  CHECK(allocator::RoundUp(4100) == 8192);
  CHECK(allocator::RoundUp(70001) == 70008);
  CHECK(allocator::UsableSize(nullptr) == 0);
  allocator::Free(nullptr);
}

TEST_CASE("reallocation keeps the contents, and shrinking keeps the block") {
  auto* block = static_cast<char*>(allocator::Allocate(10));
  strcpy(block, "health");
  CHECK(allocator::Reallocate(block, 12) == block);
  auto* grown = static_cast<char*>(allocator::Reallocate(block, 1000));
  REQUIRE(grown != nullptr);
  CHECK(strcmp(grown, "health") == 0);
  auto* huge = static_cast<char*>(allocator::Reallocate(grown, 100000));
  REQUIRE(huge != nullptr);
  CHECK(strcmp(huge, "health") == 0);
  CHECK(allocator::Reallocate(huge, 50) == huge);
  allocator::Free(huge);
  void* fresh = allocator::Reallocate(nullptr, 40);
  CHECK(allocator::UsableSize(fresh) == 64);
  allocator::Free(fresh);
}

TEST_CASE("blocks above the largest class are not kept") {
  void* largest_class = allocator::Allocate(65536);
  size_t before = allocator::CachedBytesOnThisThread();
  allocator::Free(allocator::Allocate(70000));
  CHECK(allocator::CachedBytesOnThisThread() == before);
  allocator::Free(largest_class);
  CHECK(allocator::CachedBytesOnThisThread() == before + 65536);
}

TEST_CASE("a thread keeps no more than its cap, and gives all back when it exits") {
  size_t peak = 0;
  size_t after_reuse = 0;
  std::thread worker([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 64; ++i) blocks.push_back(allocator::Allocate(32 * 1024));
    for (void* block : blocks) allocator::Free(block);
    peak = allocator::CachedBytesOnThisThread();
    for (int i = 0; i < 10; ++i) blocks[i] = allocator::Allocate(32 * 1024);
    after_reuse = allocator::CachedBytesOnThisThread();
    for (int i = 0; i < 10; ++i) allocator::Free(blocks[i]);
  });
  worker.join();
  // 64 x 32 KiB is 2 MiB: only the first 1 MiB stays for reuse. What the
  // thread still held when it exited went back to malloc; under make asan,
  // LeakSanitizer reports it if it did not.
  CHECK(peak == allocator::kMaxCachedBytesPerThread);
  CHECK(after_reuse == allocator::kMaxCachedBytesPerThread - 10 * 32 * 1024);
}

TEST_CASE("a block freed on another thread joins that thread's cache") {
  void* block = allocator::Allocate(2000);
  size_t cached_there = 0;
  std::thread other([&] {
    allocator::Free(block);
    cached_there = allocator::CachedBytesOnThisThread();
  });
  other.join();
  CHECK(cached_there == 2048);
}

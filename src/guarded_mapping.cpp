// GuardedMapping and its SIGBUS handler.
#include "guarded_mapping.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <mutex>

namespace healthcheck {
namespace {

// The handler's table: it reads it with no lock (a signal handler may take
// none), so each slot's range is published with atomics.
constexpr int kSlots = 1024;  // Mappings at once: the counts, and one per cached probe in use.
struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<bool> lost{false};
};
Slot g_slots[kSlots];
std::mutex g_slots_mutex;  // Taking and freeing slots, outside the handler.
struct sigaction g_previous;

void OnSigbus(int signal, siginfo_t* info, void* context) {
  auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& slot : g_slots) {
    uintptr_t begin = slot.begin.load();
    uintptr_t end = slot.end.load();
    if (begin != 0 && address >= begin && address < end) {
      // mmap is a system call, safe in a handler. The faulting instruction
      // runs again on the private pages.
      void* replaced = mmap(reinterpret_cast<void*>(begin), end - begin, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (replaced != MAP_FAILED) {
        slot.lost.store(true);
        return;
      }
    }
  }
  // Not ours: whatever handled SIGBUS before does, or the default (death).
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) return g_previous.sa_sigaction(signal, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    return g_previous.sa_handler(signal);
  }
  ::signal(SIGBUS, SIG_DFL);  // The fault happens again on return, and kills.
}

void InstallHandlerOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action = {};
    action.sa_sigaction = OnSigbus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &g_previous);
  });
}

}  // namespace

GuardedMapping::GuardedMapping(size_t bytes) {
  InstallHandlerOnce();
  std::lock_guard<std::mutex> hold(g_slots_mutex);
  for (int i = 0; i < kSlots; ++i) {
    if (g_slots[i].begin.load() != 0) continue;
    void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) return;
    data_ = static_cast<char*>(data);
    bytes_ = bytes;
    slot_ = i;
    g_slots[i].lost.store(false);
    g_slots[i].end.store(reinterpret_cast<uintptr_t>(data_) + bytes);
    g_slots[i].begin.store(reinterpret_cast<uintptr_t>(data_));
    return;
  }
}

GuardedMapping::~GuardedMapping() {
  if (data_ == nullptr) return;
  {
    std::lock_guard<std::mutex> hold(g_slots_mutex);
    g_slots[slot_].begin.store(0);
    g_slots[slot_].end.store(0);
  }
  munmap(data_, bytes_);
}

bool GuardedMapping::MapFile(int fd) {
  if (data_ == nullptr) return false;
  // Cleared first: a SIGBUS from the old file's pages that lands after the
  // mmap below takes the new pages too, and must leave lost() true.
  g_slots[slot_].lost.store(false);
  void* mapped = mmap(data_, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  if (mapped == MAP_FAILED) {
    MapPrivate();  // A failed MAP_FIXED may have taken the old pages away.
    return false;
  }
  return true;
}

void GuardedMapping::MapPrivate() {
  if (data_ == nullptr) return;
  mmap(data_, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

bool GuardedMapping::lost() const { return slot_ >= 0 && g_slots[slot_].lost.load(); }

bool IsDue(std::atomic<int64_t>& next_look_ms) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);  // No system call: the vDSO's.
  int64_t now_ms = static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
  int64_t next = next_look_ms.load(std::memory_order_relaxed);
  return now_ms >= next && next_look_ms.compare_exchange_strong(next, now_ms + kLookEveryMs);
}

bool IsStillTheFile(const std::string& path, const MappedFile& identity, size_t bytes) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && info.st_dev == identity.device && info.st_ino == identity.inode &&
         static_cast<size_t>(info.st_size) >= bytes;
}

}  // namespace healthcheck

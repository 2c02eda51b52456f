// GuardedMapping: a file mapped shared, whose truncation by anyone (an
// operator, a full disk's cleanup, a hostile peer with our user) cannot
// kill the process. Touching a page past a truncated file's end raises
// SIGBUS; the guard's handler puts private zeroed memory in the place of
// the whole mapping and marks it lost, and the touch goes on there. The
// owner sees lost() and maps the file again.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace healthcheck {

class GuardedMapping {
 public:
  // Reserves `bytes` of address space, private zeroed memory at first. The
  // range stays the same for the mapping's life: a file is mapped into it
  // and out of it in place, so a thread that read data() a moment ago
  // never touches memory that is gone. Null data() when the address space
  // or the handler's table is full.
  explicit GuardedMapping(size_t bytes);
  ~GuardedMapping();
  GuardedMapping(const GuardedMapping&) = delete;
  GuardedMapping& operator=(const GuardedMapping&) = delete;

  // `fd`'s first size() bytes, shared, in place of what was there; false,
  // with private memory there, when mmap refuses.
  bool MapFile(int fd);
  // Private zeroed memory in place of what was there.
  void MapPrivate();

  char* data() const { return data_; }
  size_t size() const { return bytes_; }
  // Whether a SIGBUS replaced the file's pages with private memory since
  // the last MapFile.
  bool lost() const;

 private:
  char* data_ = nullptr;
  size_t bytes_ = 0;
  int slot_ = -1;  // In the handler's table.
};

// Which file a mapping was made from.
struct MappedFile {
  dev_t device = 0;
  ino_t inode = 0;
};

// A kept mapping is looked at again at most this often: a stat a second,
// not one per request.
inline constexpr int64_t kLookEveryMs = 1000;

// Whether a look at a kept file is due; true for one caller a second,
// which then owns the look.
bool IsDue(std::atomic<int64_t>& next_look_ms);

// Whether `path` is still the file `identity` names, with at least `bytes`.
bool IsStillTheFile(const std::string& path, const MappedFile& identity, size_t bytes);

}  // namespace healthcheck

// GuardedMapping: a file mapped shared, whose truncation by anyone (an
// operator, a full disk's cleanup, a hostile peer with our user) cannot
// kill the process. Touching a page past a truncated file's end raises
// SIGBUS; the guard's handler puts private zeroed memory in the place of
// the whole mapping and marks it lost, and the touch goes on there. The
// owner sees lost() and maps the file again.
#pragma once

#include <cstddef>

namespace healthcheck {

class GuardedMapping {
 public:
  // Maps `bytes` of `fd` read-write and shared; null data() when mmap
  // fails or too many mappings are guarded at once.
  GuardedMapping(int fd, size_t bytes);
  // Private memory, guarded by nothing: for a process that counts alone.
  explicit GuardedMapping(size_t bytes);
  ~GuardedMapping();
  GuardedMapping(const GuardedMapping&) = delete;
  GuardedMapping& operator=(const GuardedMapping&) = delete;

  char* data() const { return data_; }
  size_t size() const { return bytes_; }
  // Whether a SIGBUS replaced the file's pages with private memory.
  bool lost() const;

 private:
  char* data_ = nullptr;
  size_t bytes_ = 0;
  int slot_ = -1;  // In the handler's table; -1 for private memory.
};

}  // namespace healthcheck

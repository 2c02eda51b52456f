// ResidentBytes on /proc/PID/statm.
#include "process_memory.h"

#include <stdio.h>
#include <unistd.h>

#include <string>

namespace healthcheck {

int64_t ResidentBytes(pid_t pid) {
  std::string path = pid == 0 ? "/proc/self/statm" : "/proc/" + std::to_string(pid) + "/statm";
  FILE* file = fopen(path.c_str(), "re");
  if (file == nullptr) return -1;
  long long size = 0, resident = 0;
  int fields = fscanf(file, "%lld %lld", &size, &resident);
  fclose(file);
  return fields == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

}  // namespace healthcheck

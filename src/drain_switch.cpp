// DrainSwitch::Draining: one stat(2) a drained check's request.
#include "drain_switch.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

namespace healthcheck {

bool DrainSwitch::Draining(Log& log) const {
  struct stat info;
  int state = kDraining;
  int error = 0;
  if (stat(path_.c_str(), &info) != 0) {
    error = errno;
    // Absent is the normal case. Anything else (EACCES, EIO, a loop) leaves
    // the file's presence unknown: drain, since a deploy may be waiting on it.
    state = error == ENOENT || error == ENOTDIR ? kOpen : kUnseen;
  }
  int last = last_state_.exchange(state, std::memory_order_relaxed);
  if (last != state && !(last == kUnknown && state == kOpen)) {
    switch (state) {
      case kOpen:
        log.error("healthcheck: drain over: " + path_ + " is gone; draining checks run again");
        break;
      case kDraining:
        log.error("healthcheck: draining: " + path_ + " exists; draining checks answer without running");
        break;
      default:
        log.error("healthcheck: draining: cannot tell whether " + path_ + " exists (" +
                  strerror(error) + "); draining checks answer without running");
    }
  }
  return state != kOpen;
}

void DrainSwitch::ContinueFrom(const DrainSwitch& previous) const {
  if (previous.path_ != path_) return;
  last_state_.store(previous.last_state_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

}  // namespace healthcheck

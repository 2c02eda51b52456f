// DrainSwitch: the "drain_file" setting. While the file exists, checks marked
// "drains" answer the drain status without running, so a deploy script (or a
// shared-hosting user, with no daemon to signal) takes a node out of a load
// balancer by touching a file, and puts it back by removing it.
#pragma once

#include <atomic>
#include <string>

#include "log.h"

namespace healthcheck {

class DrainSwitch {
 public:
  explicit DrainSwitch(std::string path) : path_(std::move(path)) {}

  // Whether to drain now: the file exists, or it cannot be told that it
  // does not (a folder we may not search). Logs why when that changes, once
  // per change in this process; every request thread shares one switch.
  bool Draining(Log& log) const;

  const std::string& path() const { return path_; }

  // Takes over what `previous` (the switch of the configuration a reload
  // replaces) last saw, when it watches the same file: a drain that spans
  // the reload is logged when it starts and when it ends, once each.
  void ContinueFrom(const DrainSwitch& previous) const;

 private:
  enum State : int { kUnknown, kOpen, kDraining, kUnseen };

  std::string path_;
  mutable std::atomic<int> last_state_{kUnknown};
};

}  // namespace healthcheck

// Deadline: the moment by which a whole health check must be answered.
// Passed down to every dependency builder and callable so that each one
// bounds its own waiting (SQLite busy timeout, child process wait).
#pragma once

#include <chrono>
#include <cstdint>

namespace healthcheck {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  static Deadline FromNow(int64_t timeout_ms) {
    return Deadline(Clock::now() + std::chrono::milliseconds(timeout_ms));
  }
  explicit Deadline(Clock::time_point when) : when_(when) {}

  bool expired() const { return Clock::now() >= when_; }
  // Milliseconds left, never negative.
  int64_t remaining_ms() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(when_ - Clock::now());
    return left.count() > 0 ? left.count() : 0;
  }
  Clock::time_point when() const { return when_; }

 private:
  Clock::time_point when_;
};

}  // namespace healthcheck

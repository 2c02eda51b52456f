// Log: where a failed check's reasons go. The public response never carries
// them; an operator reads them in the web server's error log (FastCGI's
// stderr stream, or a CGI program's stderr).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace healthcheck {

class Log {
 public:
  virtual ~Log() = default;
  // One line, without its trailing newline. Implementations used outside
  // tests do not throw: a log that fails must not take a request down.
  virtual void error(std::string_view line) = 0;
};

// Writes each line to a file descriptor (stderr by default) in one write(2),
// so that lines from concurrent threads do not interleave.
class FdLog : public Log {
 public:
  explicit FdLog(int fd = 2) : fd_(fd) {}
  void error(std::string_view line) noexcept override;

 private:
  int fd_;
};

// Keeps the lines in memory: for tests, and for callers that decide later
// where the lines go.
class MemoryLog : public Log {
 public:
  void error(std::string_view line) override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

}  // namespace healthcheck

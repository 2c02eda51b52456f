// ReadRegularFile: the one way configuration-side files (the configuration,
// the details token, a database password file, a .env file) are read.
#pragma once

#include <sys/types.h>

#include <string>

namespace healthcheck {

struct FileRead {
  std::string text;
  mode_t mode = 0;    // Permission bits, for the checks on secrets.
  std::string error;  // Empty when read.
};

// A regular file's contents, refusing anything bigger than `max_bytes`
// (`max_text` says how much that is, for the message). O_NONBLOCK: opening
// a FIFO must not wait for a writer.
FileRead ReadRegularFile(const std::string& path, size_t max_bytes, const char* max_text);

// "0640".
std::string OctalMode(mode_t mode);

}  // namespace healthcheck

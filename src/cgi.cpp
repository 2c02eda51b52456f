// ServeCgiRequest on the process's environment, stdin and stdout.
#include "cgi.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadline.h"
#include "exit_codes.h"

namespace healthcheck {
namespace {

constexpr long long kMaxDrainedBodyBytes = 1 << 20;
// How long a web server may take, in all, to hand over the body it announced.
constexpr int64_t kBodyReadTimeoutMs = 2000;

// Reads and drops the body, at most CONTENT_LENGTH and the cap, and never
// for longer than kBodyReadTimeoutMs in all, however slowly it trickles in.
void DrainBody(const char* content_length) {
  if (content_length == nullptr) return;
  char* end = nullptr;
  long long left = strtoll(content_length, &end, 10);
  if (end == content_length || *end != '\0' || left <= 0) return;
  if (left > kMaxDrainedBodyBytes) left = kMaxDrainedBodyBytes;
  char chunk[8192];
  Deadline deadline = Deadline::FromNow(kBodyReadTimeoutMs);
  while (left > 0) {
    struct pollfd input = {0, POLLIN, 0};
    int ready = poll(&input, 1, static_cast<int>(deadline.remaining_ms()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return;
    ssize_t got = read(0, chunk, left < static_cast<long long>(sizeof chunk) ? left : sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return;
    left -= got;
  }
}

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t written = write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

}  // namespace

int ServeCgiRequest(const App* app, Log& log) {
  Request request = RequestFromVariables([](const char* name) { return getenv(name); });
  DrainBody(getenv("CONTENT_LENGTH"));
  WorkerContext worker;
  Response response =
      app != nullptr
          ? HandleWithApp(request, *app, worker, log)
          : MakeResponse(Health::kUnhealthy, BodyModeFor(request));
  if (!WriteAll(1, response.bytes)) {
    log.error("healthcheck: cannot write the CGI response: the web server closed stdout");
    return kExitSoftware;
  }
  return kExitOk;
}

bool AreCgiSearchWords(const std::vector<std::string>& arguments, const char* query_string) {
  if (arguments.empty() || query_string == nullptr || *query_string == '\0' ||
      strchr(query_string, '=') != nullptr) {
    return false;
  }
  // Compared without backslashes: the server's shell escaping adds them.
  auto without_backslashes = [](const std::string& word) {
    std::string kept;
    for (char c : word) {
      if (c != '\\') kept += c;
    }
    return kept;
  };
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::string> words(1);
  for (const char* c = query_string; *c != '\0'; ++c) {
    if (*c == '+') {
      words.emplace_back();
    } else if (*c == '%' && hex(c[1]) >= 0 && hex(c[2]) >= 0) {
      words.back() += static_cast<char>(hex(c[1]) * 16 + hex(c[2]));
      c += 2;
    } else {
      words.back() += *c;
    }
  }
  if (words.size() != arguments.size()) return false;
  for (size_t i = 0; i < words.size(); ++i) {
    // A decoded %00 ends the word the server passes (a C string).
    words[i].resize(strlen(words[i].c_str()));
    if (without_backslashes(words[i]) != without_backslashes(arguments[i])) return false;
  }
  return true;
}

}  // namespace healthcheck

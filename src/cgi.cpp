// ServeCgiRequest on the process's environment, stdin and stdout.
#include "cgi.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
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
  Request request;
  if (const char* method = getenv("REQUEST_METHOD")) request.method = method;
  DrainBody(getenv("CONTENT_LENGTH"));
  WorkerContext worker;
  Response response =
      app != nullptr
          ? HandleWithApp(request, *app, worker, log)
          : MakeResponse(Health::kUnhealthy,
                         request.is_head() ? BodyMode::kHeadersOnly : BodyMode::kWithBody);
  if (!WriteAll(1, response.bytes)) {
    log.error("healthcheck: cannot write the CGI response: the web server closed stdout");
    return kExitSoftware;
  }
  return kExitOk;
}

}  // namespace healthcheck

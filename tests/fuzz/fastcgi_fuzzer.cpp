// libFuzzer target: any bytes as the stream a FastCGI peer sends on one
// connection, through the real server (ServeFastCgi: the acceptor, the
// watchdog, libfcgi, the handler) listening on a unix socket in a scratch
// folder. Each input is one connection: the bytes, then the end of file.
// The server must answer or hang up within kAnswerTimeoutMs (it may never
// hang on what a peer sends), and everything it writes must be well-formed
// FastCGI records of the kinds a responder sends.
//
// libfcgi is Debian's, not built with coverage, so the fuzzer is guided by
// our code only; it still puts every mutated stream through libfcgi.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "../../src/app.h"
#include "../../src/config.h"
#include "../../src/fastcgi_server.h"
#include "../../src/listen_socket.h"
#include "../../src/log.h"

namespace {

constexpr int kAnswerTimeoutMs = 5000;
constexpr unsigned char kFastCgiVersion = 1;
constexpr unsigned char kStdout = 6, kStderr = 7, kEndRequest = 3, kGetValuesResult = 10,
                        kUnknownType = 11;
constexpr size_t kHeaderBytes = 8;

std::string StartServer() {
  static std::string socket_path = [] {
    char folder[] = "/tmp/healthcheck-fuzz-XXXXXX";
    if (mkdtemp(folder) == nullptr) abort();
    std::string path = std::string(folder) + "/fcgi.sock";
    healthcheck::ListenAddress address;
    address.path = path;
    healthcheck::Result<int> fd = healthcheck::OpenListeningSocket(address);
    if (!fd.ok()) abort();
    auto app = healthcheck::BuildApp(
        healthcheck::ParseConfig(R"({"services": ["memory_backend"]})", "/f.json").value());
    healthcheck::ServerOptions options;
    options.threads = 2;
    options.idle_timeout_ms = 1000;
    int listen_fd = fd.value();
    std::thread([listen_fd, app, options] {
      static healthcheck::FdLog quiet(open("/dev/null", O_WRONLY | O_CLOEXEC));
      healthcheck::ServeFastCgi(listen_fd, app, options, quiet);
    }).detach();
    return path;
  }();
  return socket_path;
}

int Connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  memcpy(address.sun_path, path.c_str(), path.size() + 1);
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
    usleep(10000);  // The server thread is still starting.
  }
  abort();
}

// Everything the server sends until it hangs up; aborts if it neither
// answers nor hangs up in time.
std::string ReadUntilHangUp(int fd) {
  std::string received;
  char chunk[4096];
  for (;;) {
    struct pollfd readable = {fd, POLLIN, 0};
    int ready = poll(&readable, 1, kAnswerTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      fprintf(stderr, "the server neither answered nor hung up in %d ms\n", kAnswerTimeoutMs);
      abort();
    }
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return received;
    received.append(chunk, static_cast<size_t>(got));
  }
}

void CheckRecords(const std::string& bytes) {
  size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < kHeaderBytes) abort();
    auto header = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    unsigned char type = header[1];
    size_t length = (size_t{header[4]} << 8) | header[5];
    if (header[0] != kFastCgiVersion) abort();
    if (type != kStdout && type != kStderr && type != kEndRequest && type != kGetValuesResult &&
        type != kUnknownType) {
      abort();
    }
    at += kHeaderBytes + length + header[6];
    if (at > bytes.size()) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = Connect(StartServer());
  // Inputs are at most -max_len (4096) bytes: the socket buffer takes them whole.
  size_t sent = 0;
  while (sent < size) {
    ssize_t written = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (written <= 0) break;  // The server hung up early: fine.
    sent += static_cast<size_t>(written);
  }
  shutdown(fd, SHUT_WR);
  CheckRecords(ReadUntilHangUp(fd));
  close(fd);
  return 0;
}

// ServeFastCgi: worker threads on one socket, a signal-waiting main thread.
//
// No accept mutex: the kernel's accept is thread-safe, and a mutex would let
// one thread idling on a kept-alive connection stall the rest (see
// FASTCGI_NOTES.md). To stop, the main thread sets `stopping` and wakes the
// idle workers with kWakeSignal, which interrupts their accept or read;
// workers block that signal while they answer, so it never cuts a response.
#include "fastcgi_server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <fcgiapp.h>

#include "exit_codes.h"

namespace healthcheck {
namespace {

constexpr int kWakeSignal = SIGUSR2;
constexpr int kMaxDrainedBodyBytes = 1 << 20;  // A health check ignores bodies; read, don't hoard.
constexpr int kDrainChunkBytes = 8192;
constexpr auto kWakeInterval = std::chrono::milliseconds(10);
constexpr auto kFirstAcceptBackoff = std::chrono::milliseconds(10);
constexpr auto kMaxAcceptBackoff = std::chrono::milliseconds(1000);
// In-flight requests end by their deadline; this is the margin past it.
constexpr int64_t kShutdownMarginMs = 2000;

void IgnoreWake(int) {}

// Writes a request's log lines to its FastCGI stderr stream, which the web
// server puts in its error log.
class RequestStderrLog : public Log {
 public:
  explicit RequestStderrLog(FCGX_Stream* stream) : stream_(stream) {}
  void error(std::string_view line) override {
    FCGX_PutStr(line.data(), static_cast<int>(line.size()), stream_);
    FCGX_PutChar('\n', stream_);
  }

 private:
  FCGX_Stream* stream_;
};

// Errors from FCGX_Accept_r that pass: out of descriptors or memory, or an
// aborted connection. Anything else means the socket itself is unusable.
bool IsTransientAcceptError(int code) {
  switch (-code) {
    case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM: case EAGAIN:
    case EINTR: case ECONNABORTED: case EPROTO: case EPERM:
      return true;
    default:
      return code == -9999;  // libfcgi's "failed, errno 0".
  }
}

sigset_t SignalSet(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int signal : signals) sigaddset(&set, signal);
  return set;
}

class Server {
 public:
  Server(int listen_fd, std::shared_ptr<const App> app, const ServerOptions& options, Log& log)
      : listen_fd_(listen_fd), app_(std::move(app)), options_(options), log_(log) {}

  int Run() {
    // Blocked here, inherited by every worker: only the main thread takes
    // these, through sigwait.
    sigset_t handled = SignalSet({SIGTERM, SIGINT, SIGUSR1, SIGHUP, kWakeSignal});
    pthread_sigmask(SIG_BLOCK, &handled, nullptr);
    struct sigaction wake = {};
    wake.sa_handler = IgnoreWake;  // No SA_RESTART: the point is to interrupt.
    sigaction(kWakeSignal, &wake, nullptr);

    for (int i = 0; i < options_.threads; ++i) {
      workers_.push_back(std::make_unique<Worker>());
      Worker& worker = *workers_.back();
      worker.thread = std::thread([this, &worker] { WorkerLoop(worker); });
    }
    WaitForStopSignal();
    return StopWorkers();
  }

 private:
  struct Worker {
    std::thread thread;
    std::atomic<bool> finished{false};
  };

  void WaitForStopSignal() {
    sigset_t waited = SignalSet({SIGTERM, SIGINT, SIGUSR1, SIGHUP});
    for (;;) {
      int signal = 0;
      if (sigwait(&waited, &signal) != 0) continue;
      if (signal != SIGHUP) return;
      Reload();
    }
  }

  void Reload() {
    if (!options_.reload) {
      log_.error("healthcheck: SIGHUP ignored: no configuration file to reload");
      return;
    }
    Result<std::shared_ptr<const App>> reloaded = options_.reload();
    if (!reloaded.ok()) {
      log_.error("healthcheck: reload refused, still serving the previous configuration: " +
                 reloaded.status().message());
      return;
    }
    std::atomic_store(&app_, reloaded.value());
    log_.error("healthcheck: configuration reloaded");
  }

  int StopWorkers() {
    stopping_ = true;
    FCGX_ShutdownPending();
    int64_t grace_ms = std::atomic_load(&app_)->check.timeout_ms + kShutdownMarginMs;
    auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
    for (;;) {
      bool all_finished = true;
      for (auto& worker : workers_) {
        if (worker->finished) continue;
        all_finished = false;
        pthread_kill(worker->thread.native_handle(), kWakeSignal);
      }
      if (all_finished) break;
      if (std::chrono::steady_clock::now() > give_up) {
        log_.error("healthcheck: requests still running after the shutdown grace period; exiting");
        _exit(failed_ ? kExitSoftware : 0);
      }
      std::this_thread::sleep_for(kWakeInterval);
    }
    for (auto& worker : workers_) worker->thread.join();
    return failed_ ? kExitSoftware : 0;
  }

  void WorkerLoop(Worker& worker) {
    FCGX_Request request;
    FCGX_InitRequest(&request, listen_fd_, FCGI_FAIL_ACCEPT_ON_INTR);
    sigset_t wake = SignalSet({kWakeSignal});
    auto backoff = kFirstAcceptBackoff;
    while (!stopping_) {
      pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);
      // A wake sent while we were answering is taken as we unblock; look again.
      int accepted = stopping_ ? -EINTR : FCGX_Accept_r(&request);
      pthread_sigmask(SIG_BLOCK, &wake, nullptr);
      if (accepted < 0) {
        if (stopping_) break;
        if (!IsTransientAcceptError(accepted)) {
          log_.error(std::string("healthcheck: cannot accept on the FastCGI socket: ") +
                     strerror(-accepted) + "; stopping");
          failed_ = true;
          kill(getpid(), SIGTERM);
          break;
        }
        if (accepted != -EINTR) {
          log_.error(std::string("healthcheck: accept failed, retrying: ") + strerror(-accepted));
          std::this_thread::sleep_for(backoff);
          backoff = std::min(backoff * 2, kMaxAcceptBackoff);
        }
        continue;
      }
      backoff = kFirstAcceptBackoff;
      Answer(request);
      FCGX_Finish_r(&request);
    }
    FCGX_Free(&request, 1);
    worker.finished = true;
  }

  void Answer(FCGX_Request& request) {
    Request parsed;
    // libfcgi's strings die at FCGX_Finish_r; Request keeps copies.
    if (const char* method = FCGX_GetParam("REQUEST_METHOD", request.envp)) parsed.method = method;
    DrainBody(request.in);
    RequestStderrLog log(request.err);
    std::shared_ptr<const App> app = std::atomic_load(&app_);
    Response response = HandleWithApp(parsed, *app, log);
    // A peer that went away is its own problem; the next request is ours.
    FCGX_PutStr(response.bytes.data(), static_cast<int>(response.bytes.size()), request.out);
  }

  // libfcgi does not read what we leave, and a large unread body on a
  // kept-alive connection makes it drop the connection.
  static void DrainBody(FCGX_Stream* in) {
    char chunk[kDrainChunkBytes];
    int drained = 0;
    while (drained < kMaxDrainedBodyBytes) {
      int got = FCGX_GetStr(chunk, sizeof chunk, in);
      if (got <= 0) return;
      drained += got;
    }
  }


  int listen_fd_;
  std::shared_ptr<const App> app_;
  ServerOptions options_;
  Log& log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};
};

}  // namespace

bool StdinIsFastCgiListener() { return FCGX_IsCGI() == 0; }

int ServeFastCgi(int listen_fd, std::shared_ptr<const App> app, const ServerOptions& options,
                 Log& log) {
  if (FCGX_Init() != 0) {
    log.error("healthcheck: cannot initialise libfcgi");
    return kExitSoftware;
  }
  return Server(listen_fd, std::move(app), options, log).Run();
}

}  // namespace healthcheck

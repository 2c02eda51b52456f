// ServeFastCgi: worker threads on one socket, and a main thread that takes
// signals and watches for silent peers.
//
// No accept mutex: the kernel's accept is thread-safe, and a mutex would let
// one thread idling on a kept-alive connection stall the rest (see
// FASTCGI_NOTES.md). libfcgi blocks without timeouts, so every blocking read
// or accept is made interruptible: a worker unblocks kWakeSignal only while
// it waits for a peer, and the main thread sends that signal to workers that
// have waited past the idle timeout (libfcgi then drops the connection) or
// when the server stops. While a worker answers, the signal stays blocked, so
// it never cuts a response.
#include "fastcgi_server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <fcgiapp.h>

#include "exit_codes.h"

namespace healthcheck {
namespace {

constexpr int kWakeSignal = SIGUSR2;
constexpr int kMaxDrainedBodyBytes = 1 << 20;  // A health check ignores bodies; read, don't hoard.
constexpr int kDrainChunkBytes = 8192;
constexpr int64_t kWatchTickMs = 100;  // How often the main thread looks at the workers.
constexpr auto kStopWakeInterval = std::chrono::milliseconds(10);
constexpr auto kFirstAcceptBackoff = std::chrono::milliseconds(10);
constexpr auto kMaxAcceptBackoff = std::chrono::milliseconds(1000);
// In-flight requests end by their deadline; this is the margin past it.
constexpr int64_t kShutdownMarginMs = 2000;

void IgnoreWake(int) {}

// Writes a request's log lines to its FastCGI stderr stream.
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
    // Blocked here and so in every worker: only the main thread takes these.
    sigset_t handled = SignalSet({SIGTERM, SIGINT, SIGUSR1, SIGHUP, kWakeSignal});
    pthread_sigmask(SIG_BLOCK, &handled, nullptr);
    struct sigaction wake = {};
    wake.sa_handler = IgnoreWake;  // No SA_RESTART: the point is to interrupt.
    sigaction(kWakeSignal, &wake, nullptr);

    for (int i = 0; i < options_.threads; ++i) {
      workers_.push_back(std::make_unique<Worker>());
      Worker& worker = *workers_.back();
      worker.busy_since_ms =
          options_.busy_since_ms ? &options_.busy_since_ms[i] : &worker.own_busy_since_ms;
      worker.thread = std::thread([this, &worker] { WorkerLoop(worker); });
    }
    WatchUntilStopped();
    return StopWorkers();
  }

 private:
  struct Worker {
    std::thread thread;
    std::atomic<bool> finished{false};
    // Since when it has been waiting for a peer (accept, request header,
    // body), 0 while it answers.
    std::atomic<int64_t> waiting_since_ms{0};
    std::atomic<int64_t> own_busy_since_ms{0};
    std::atomic<int64_t>* busy_since_ms = nullptr;
    // This thread's copy of the App, refreshed when a reload bumps the
    // generation: one atomic load a request instead of a shared lock.
    std::shared_ptr<const App> app;
    uint64_t app_generation = 0;
  };

  const App& CurrentApp(Worker& worker) {
    if (worker.app_generation != app_generation_.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(app_mutex_);
      worker.app = app_;
      worker.app_generation = app_generation_.load(std::memory_order_relaxed);
    }
    return *worker.app;
  }

  void WatchUntilStopped() {
    sigset_t waited = SignalSet({SIGTERM, SIGINT, SIGUSR1, SIGHUP});
    const timespec tick = {0, kWatchTickMs * 1000 * 1000};
    while (!stopping_) {
      int signal = sigtimedwait(&waited, nullptr, &tick);
      if (signal == SIGHUP) {
        Reload();
      } else if (signal > 0) {
        return;
      } else {
        WakeSilentPeers();
      }
    }
  }

  // A worker that has waited on a peer past the idle timeout is interrupted:
  // an idle accept just starts again, a silent connection is dropped.
  void WakeSilentPeers() {
    int64_t now = SteadyNowMs();
    for (auto& worker : workers_) {
      int64_t since = worker->waiting_since_ms;
      if (since != 0 && now - since > options_.idle_timeout_ms) {
        pthread_kill(worker->thread.native_handle(), kWakeSignal);
      }
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
    {
      std::lock_guard<std::mutex> lock(app_mutex_);
      app_ = reloaded.value();
      app_generation_.fetch_add(1, std::memory_order_release);
    }
    log_.error("healthcheck: configuration reloaded");
  }

  int StopWorkers() {
    stopping_ = true;
    FCGX_ShutdownPending();
    int64_t grace_ms = kShutdownMarginMs;
    {
      std::lock_guard<std::mutex> lock(app_mutex_);
      grace_ms += app_->check.timeout_ms;
    }
    int64_t give_up_ms = SteadyNowMs() + grace_ms;
    for (;;) {
      bool all_finished = true;
      for (auto& worker : workers_) {
        if (worker->finished) continue;
        all_finished = false;
        pthread_kill(worker->thread.native_handle(), kWakeSignal);
      }
      if (all_finished) break;
      if (SteadyNowMs() > give_up_ms) {
        log_.error("healthcheck: requests still running after the shutdown grace period; exiting");
        _exit(failed_ ? kExitSoftware : kExitOk);
      }
      std::this_thread::sleep_for(kStopWakeInterval);
    }
    for (auto& worker : workers_) worker->thread.join();
    return failed_ ? kExitSoftware : kExitOk;
  }

  // Runs `wait` with the wake signal open, publishing since when we wait.
  template <typename Wait>
  auto Interruptibly(Worker& worker, Wait wait) {
    static const sigset_t kWake = SignalSet({kWakeSignal});
    worker.waiting_since_ms = SteadyNowMs();
    pthread_sigmask(SIG_UNBLOCK, &kWake, nullptr);
    auto result = wait();
    pthread_sigmask(SIG_BLOCK, &kWake, nullptr);
    worker.waiting_since_ms = 0;
    return result;
  }

  void WorkerLoop(Worker& worker) {
    FCGX_Request request;
    FCGX_InitRequest(&request, listen_fd_, FCGI_FAIL_ACCEPT_ON_INTR);
    auto backoff = kFirstAcceptBackoff;
    while (!stopping_) {
      // A wake sent while we answered is taken as the signal opens; hence the
      // second look at stopping_ inside. The body is drained inside the same
      // window: a peer may stall there too.
      int accepted = Interruptibly(worker, [&] {
        if (stopping_) return -EINTR;
        int code = FCGX_Accept_r(&request);
        if (code >= 0) DrainBody(request.in);
        return code;
      });
      if (accepted < 0) {
        if (stopping_) break;
        if (!IsTransientAcceptError(accepted)) {
          log_.error(std::string("healthcheck: cannot accept on the FastCGI socket: ") +
                     strerror(-accepted) + "; stopping");
          failed_ = true;
          RequestStop();
          break;
        }
        // EINTR is our own wake; EAGAIN a timed-out accept. Neither is news.
        if (accepted != -EINTR && accepted != -EAGAIN) {
          log_.error(std::string("healthcheck: accept failed, retrying: ") + strerror(-accepted));
          std::this_thread::sleep_for(backoff);
          backoff = std::min(backoff * 2, kMaxAcceptBackoff);
        }
        continue;
      }
      backoff = kFirstAcceptBackoff;
      Answer(worker, request);
      FCGX_Finish_r(&request);
      *worker.busy_since_ms = 0;
      CountRequest();
    }
    FCGX_Free(&request, 1);
    worker.finished = true;
  }

  void Answer(Worker& worker, FCGX_Request& request) {
    Request parsed;
    // libfcgi's strings die at FCGX_Finish_r; Request keeps copies.
    if (const char* method = FCGX_GetParam("REQUEST_METHOD", request.envp)) parsed.method = method;
    *worker.busy_since_ms = SteadyNowMs();
    RequestStderrLog log(request.err);
    Response response = HandleWithApp(parsed, CurrentApp(worker), log);
    // A peer that went away is its own problem; the next request is ours.
    FCGX_PutStr(response.bytes.data(), static_cast<int>(response.bytes.size()), request.out);
  }

  // libfcgi does not read what we leave, and a large unread body on a
  // kept-alive connection makes it drop the connection.
  static int DrainBody(FCGX_Stream* in) {
    char chunk[kDrainChunkBytes];
    int drained = 0;
    while (drained < kMaxDrainedBodyBytes) {
      int got = FCGX_GetStr(chunk, sizeof chunk, in);
      if (got <= 0) break;
      drained += got;
    }
    return drained;
  }

  void CountRequest() {
    if (options_.max_requests > 0 && ++served_ == options_.max_requests) RequestStop();
  }

  // Wakes the main thread, which then stops every worker.
  void RequestStop() { kill(getpid(), SIGTERM); }

  int listen_fd_;
  std::mutex app_mutex_;  // Guards app_, which SIGHUP replaces.
  std::shared_ptr<const App> app_;
  std::atomic<uint64_t> app_generation_{1};  // Workers start at 0, so they load it first.
  ServerOptions options_;
  Log& log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> served_{0};
};

}  // namespace

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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

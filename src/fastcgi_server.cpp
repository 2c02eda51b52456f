// ServeFastCgi: worker threads on one socket, and a main thread that takes
// signals and watches the workers.
//
// Workers take connections through the Acceptor (no accept mutex: see
// FASTCGI_NOTES.md) and hand each to libfcgi, which reads requests and
// writes answers on it. libfcgi has no read timeouts, so the main thread
// watches every worker that is reading a request: one reading for longer
// than the idle timeout (a silent, stalled or trickling peer) has its
// connection's reading side shut down, which ends libfcgi's read; the
// writing side stays open, so a request that arrived just then is still
// answered. Idle kept-alive connections are closed after the idle timeout
// by the worker itself, and so is every connection the peer did not ask to
// keep: libfcgi's own close waits for the peer's end of file without a
// bound. To stop, the Acceptor wakes every waiting worker; a worker that is
// reading or answering a request finishes it first, so stopping loses no
// request.
#include "fastcgi_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <malloc.h>
#include <sys/time.h>

#include <chrono>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fcgiapp.h>

#include "acceptor.h"
#include "deadline.h"
#include "exit_codes.h"
#include "process_memory.h"
#include "signals.h"

namespace healthcheck {
namespace {

constexpr int kMaxDrainedBodyBytes = 1 << 20;  // A health check ignores bodies; read, don't hoard.
constexpr int kDrainChunkBytes = 8192;
constexpr int64_t kWatchTickMs = 100;  // How often the main thread looks at the workers.
// After an answer on a connection the peer does not keep, how long we wait
// for its end of file, reading what it still sends, before closing: closing
// with unread bytes would send a reset, which can destroy the answer in
// flight. A web server hangs up at once; a peer that does not is cut off.
constexpr int kCloseLingerMs = 200;
constexpr size_t kCloseLingerMaxBytes = 64 * 1024;
// Past the memory limit, a connection that has been sending its request
// for this long is cut. A web server's request arrives in well under a
// millisecond; a stream of parameters at loopback speed adds some 80 MB
// in this time.
constexpr int64_t kMemoryCutAfterReadingMs = 200;
// In-flight requests end by their deadline (and reading one by the idle
// timeout); this is the margin past both.
constexpr int64_t kShutdownMarginMs = 2000;
// libfcgi accepts by itself when it has no connection; it gets a socket that
// cannot accept, so that it returns to us instead.
constexpr int kNoListenSocket = -1;

// Writes a request's log lines to its FastCGI stderr stream.
class RequestStderrLog : public Log {
 public:
  explicit RequestStderrLog(FCGX_Stream* stream) : stream_(stream) {}
  void error(std::string_view line) noexcept override {
    FCGX_PutStr(line.data(), static_cast<int>(line.size()), stream_);
    FCGX_PutChar('\n', stream_);
  }

 private:
  FCGX_Stream* stream_;
};

// Shuts down our writing side, reads until the peer's end of file for at
// most kCloseLingerMs (and kCloseLingerMaxBytes), then closes `fd`.
void CloseAfterAnswer(int fd) {
  shutdown(fd, SHUT_WR);
  Deadline linger = Deadline::FromNow(kCloseLingerMs);
  char discarded[4096];
  size_t read_bytes = 0;
  while (read_bytes < kCloseLingerMaxBytes) {
    struct pollfd readable = {fd, POLLIN, 0};
    int ready = poll(&readable, 1, static_cast<int>(linger.remaining_ms()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    ssize_t got = read(fd, discarded, sizeof discarded);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    read_bytes += static_cast<size_t>(got);
  }
  close(fd);
}

class Server {
 public:
  Server(int listen_fd, std::shared_ptr<const App> app, const ServerOptions& options, Log& log)
      : listen_fd_(listen_fd), app_(std::move(app)), options_(options), log_(log) {}

  int Run() {
    // Blocked since main() began, and so in every worker: only the main
    // thread takes these. Blocked again in case an embedder did not.
    sigset_t handled = ServerSignals();
    pthread_sigmask(SIG_BLOCK, &handled, nullptr);
    Result<std::unique_ptr<Acceptor>> acceptor = Acceptor::Create(listen_fd_, log_);
    if (!acceptor.ok()) {
      log_.error("healthcheck: cannot serve: " + acceptor.status().message());
      return kExitSoftware;
    }
    acceptor_ = std::move(acceptor.value());
    if (!StartWorkers()) {
      StopWorkers();
      return kExitSoftware;
    }
    WatchUntilStopped();
    return StopWorkers();
  }

 private:
  struct Worker {
    std::thread thread;
    // What this thread's requests keep (database connections), destroyed
    // with the worker.
    WorkerContext context;
    std::atomic<bool> finished{false};
    // The connection being read, and since when; the watchdog may shut it
    // down. Guarded by `mutex`, so that the watchdog never touches a
    // descriptor the worker has closed, nor a connection being answered.
    std::mutex mutex;
    int connection_fd = -1;  // Ours: libfcgi reads and closes a duplicate.
    int64_t reading_since_ms = 0;
    bool cut_for_memory = false;  // The watchdog cut its read: memory to give back.
    std::atomic<int64_t> own_busy_since_ms{0};
    std::atomic<int64_t>* busy_since_ms = nullptr;
    // This thread's copy of the App, refreshed when a reload bumps the
    // generation: one atomic load a request instead of a shared lock.
    std::shared_ptr<const App> app;
    uint64_t app_generation = 0;
  };

  // Starts options_.threads workers. Short of threads (RLIMIT_NPROC, memory),
  // serves on those that started; with none, fails.
  bool StartWorkers() {
    for (int i = 0; i < options_.threads; ++i) {
      workers_.push_back(std::make_unique<Worker>());
      Worker& worker = *workers_.back();
      worker.busy_since_ms =
          options_.busy_since_ms ? &options_.busy_since_ms[i] : &worker.own_busy_since_ms;
      try {
        worker.thread = std::thread([this, &worker] { WorkerLoop(worker); });
      } catch (const std::system_error& error) {
        workers_.pop_back();
        log_.error("healthcheck: cannot start worker thread " + std::to_string(i + 1) + " of " +
                   std::to_string(options_.threads) + ": " + error.what());
        break;
      }
    }
    return !workers_.empty();
  }

  void WatchUntilStopped() {
    sigset_t waited = ServerSignals();
    const timespec tick = {0, kWatchTickMs * 1000 * 1000};
    for (;;) {
      int signal = sigtimedwait(&waited, nullptr, &tick);
      if (signal == SIGHUP) {
        Reload();
      } else if (signal > 0) {
        return;
      }
      CutSlowReaders();
    }
  }

  // A peer that has taken longer than the idle timeout to send its request
  // (silent, stalled mid-record, or trickling) loses its connection: its
  // reading side only, so that libfcgi's read ends, while a request that
  // arrived in full at that very moment can still be answered.
  //
  // Past the memory limit, every connection that has been sending its
  // request for a while is cut: only those can be growing (libfcgi keeps
  // parameters without a cap).
  void CutSlowReaders() {
    int64_t now = SteadyNowMs();
    int64_t resident = ResidentBytes(0);
    bool over_memory = resident > options_.max_rss_bytes;
    if (over_memory && !over_memory_logged_) {
      log_.error("healthcheck: " + std::to_string(resident >> 20) +
                 " MiB resident, past the limit of " + std::to_string(options_.max_rss_bytes >> 20) +
                 " MiB: dropping the connections still sending their requests");
    }
    over_memory_logged_ = over_memory;
    for (auto& worker : workers_) {
      std::lock_guard<std::mutex> lock(worker->mutex);
      if (worker->reading_since_ms == 0 || worker->connection_fd < 0) continue;
      int64_t reading_ms = now - worker->reading_since_ms;
      bool growing = over_memory && reading_ms > kMemoryCutAfterReadingMs;
      if (growing || reading_ms > options_.idle_timeout_ms) {
        shutdown(worker->connection_fd, SHUT_RD);
        worker->reading_since_ms = 0;
        worker->cut_for_memory = growing;
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
      // A drain that began before the reload and ends after it is still
      // one change, to be logged when it ends.
      if (reloaded.value()->drain && app_->drain) reloaded.value()->drain->ContinueFrom(*app_->drain);
      app_ = reloaded.value();
      app_generation_.fetch_add(1, std::memory_order_release);
    }
    log_.error("healthcheck: configuration reloaded");
  }

  int StopWorkers() {
    acceptor_->Stop();
    int64_t grace_ms = options_.idle_timeout_ms + kShutdownMarginMs;
    {
      std::lock_guard<std::mutex> lock(app_mutex_);
      grace_ms += LongestTimeoutMs(*app_);
    }
    int64_t give_up_ms = SteadyNowMs() + grace_ms;
    const timespec tick = {0, kWatchTickMs * 1000 * 1000};
    for (;;) {
      bool all_finished = true;
      for (auto& worker : workers_) all_finished = all_finished && worker->finished;
      if (all_finished) break;
      if (SteadyNowMs() > give_up_ms) {
        log_.error("healthcheck: requests still running after the shutdown grace period; exiting");
        _exit(failed_ ? kExitSoftware : kExitOk);
      }
      CutSlowReaders();  // Requests still being read are bounded as ever.
      nanosleep(&tick, nullptr);
    }
    for (auto& worker : workers_) worker->thread.join();
    workers_.clear();  // Their kept connections close with them.
    return failed_ ? kExitSoftware : kExitOk;
  }

  const App& CurrentApp(Worker& worker) {
    if (worker.app_generation != app_generation_.load(std::memory_order_acquire)) {
      // Connections kept for the configuration a reload replaced go.
      if (worker.app) worker.context.CloseAll();
      std::lock_guard<std::mutex> lock(app_mutex_);
      worker.app = app_;
      worker.app_generation = app_generation_.load(std::memory_order_relaxed);
    }
    return *worker.app;
  }

  // Takes a new connection for `request`, or false when the server stops.
  bool TakeConnection(Worker& worker, FCGX_Request& request) {
    Result<int> connection = acceptor_->Accept();
    if (!connection.ok()) {
      log_.error("healthcheck: cannot accept on the FastCGI socket: " +
                 connection.status().message() + "; stopping");
      failed_ = true;
      RequestStop();
      return false;
    }
    if (connection.value() < 0) return false;
    // libfcgi closes its descriptor when it is done with the connection; the
    // watchdog holds ours, so it can never hit a reused descriptor number.
    int for_libfcgi = fcntl(connection.value(), F_DUPFD_CLOEXEC, 0);
    if (for_libfcgi < 0) {
      close(connection.value());
      return true;  // Out of descriptors: the peer retries; so do we.
    }
    // A peer that stops reading its answers makes writes fail after this
    // long, instead of holding the thread in write(2).
    struct timeval send_timeout = {options_.idle_timeout_ms / 1000,
                                   static_cast<suseconds_t>(options_.idle_timeout_ms % 1000) * 1000};
    setsockopt(connection.value(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    std::lock_guard<std::mutex> lock(worker.mutex);
    worker.connection_fd = connection.value();
    request.ipcFd = for_libfcgi;
    // So that FCGX_Accept_r's own finish keeps the descriptor we just gave it.
    request.keepConnection = 1;
    return true;
  }

  // Closes our side once libfcgi has closed its own.
  void ReleaseConnectionIfClosed(Worker& worker, const FCGX_Request& request) {
    if (request.ipcFd >= 0) return;
    std::lock_guard<std::mutex> lock(worker.mutex);
    if (worker.connection_fd >= 0) close(worker.connection_fd);
    worker.connection_fd = -1;
  }

  // Closes a connection after its answer, bounded (CloseAfterAnswer):
  // libfcgi's descriptor at once, then ours.
  void CloseAnsweredConnection(Worker& worker, FCGX_Request& request) {
    CloseIdleConnection(request);
    int fd;
    {
      std::lock_guard<std::mutex> lock(worker.mutex);
      fd = std::exchange(worker.connection_fd, -1);
    }
    if (fd >= 0) CloseAfterAnswer(fd);
  }

  // Reads one request on the worker's connection, and its body; false when
  // libfcgi gave up on the connection (end, garbage, or cut by the watchdog).
  bool ReadRequest(Worker& worker, FCGX_Request& request) {
    {
      std::lock_guard<std::mutex> lock(worker.mutex);
      worker.reading_since_ms = SteadyNowMs();
    }
    bool accepted = FCGX_Accept_r(&request) >= 0;
    if (accepted) DrainBody(request.in);
    std::lock_guard<std::mutex> lock(worker.mutex);
    worker.reading_since_ms = 0;
    if (std::exchange(worker.cut_for_memory, false)) {
      malloc_trim(0);  // libfcgi freed the parameters; give the pages back.
    }
    return accepted;
  }

  void WorkerLoop(Worker& worker) {
    FCGX_Request request;
    FCGX_InitRequest(&request, kNoListenSocket, 0);
    for (;;) {
      if (request.ipcFd < 0) {
        if (!TakeConnection(worker, request)) break;
        if (request.ipcFd < 0) continue;
      } else if (acceptor_->WaitReadable(request.ipcFd, options_.idle_timeout_ms) !=
                 Acceptor::Wait::kReadable) {
        // An idle kept-alive connection past the idle timeout, or the stop.
        CloseIdleConnection(request);
        ReleaseConnectionIfClosed(worker, request);
        continue;
      }
      if (!ReadRequest(worker, request)) {
        ReleaseConnectionIfClosed(worker, request);
        continue;
      }
      *worker.busy_since_ms = SteadyNowMs();
      Answer(worker, request);
      // The check is done: sending the answer is bounded by the send
      // timeout, and a slow reader is not a stuck worker.
      *worker.busy_since_ms = 0;
      bool peer_keeps_connection = request.keepConnection != 0;
      // libfcgi flushes the answer and ends the request; it may close the
      // connection on an error, but then without its unbounded wait, and a
      // connection the peer does not keep is ours to close.
      request.keepConnection = 1;
      request.detached = 1;
      FCGX_Finish_r(&request);
      request.detached = 0;
      if (peer_keeps_connection) {
        ReleaseConnectionIfClosed(worker, request);
      } else {
        CloseAnsweredConnection(worker, request);
      }
      CountRequest();
    }
    CloseIdleConnection(request);
    ReleaseConnectionIfClosed(worker, request);
    worker.finished = true;
  }

  // Closes a connection with no request on it at once. libfcgi's own close
  // first waits up to 2 s for the peer to hang up (to spare an unread
  // answer a reset); with nothing sent, there is nothing to spare.
  static void CloseIdleConnection(FCGX_Request& request) {
    if (request.ipcFd < 0) return;
    request.detached = 1;  // libfcgi: close without that wait.
    FCGX_Free(&request, 1);
  }

  void Answer(Worker& worker, FCGX_Request& request) {
    // libfcgi's strings die at FCGX_Finish_r; Request keeps copies.
    Request parsed = RequestFromVariables(
        [&request](const char* name) { return FCGX_GetParam(name, request.envp); });
    RequestStderrLog log(request.err);
    Response response = HandleWithApp(parsed, CurrentApp(worker), worker.context, log);
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

  void CountRequest() {
    if (options_.answered != nullptr) options_.answered->fetch_add(1, std::memory_order_relaxed);
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
  std::unique_ptr<Acceptor> acceptor_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> served_{0};
  bool over_memory_logged_ = false;  // Main thread only.
};

}  // namespace

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int ServeFastCgi(int listen_fd, std::shared_ptr<const App> app, const ServerOptions& options,
                 Log& log) {
  if (FCGX_Init() != 0) {
    log.error("healthcheck: cannot initialise libfcgi");
    return kExitSoftware;
  }
  return Server(listen_fd, std::move(app), options, log).Run();
}

}  // namespace healthcheck

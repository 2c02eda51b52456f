// Supervise: fork, watch, replace. The master stays single-threaded, so fork
// is safe, and it never touches libfcgi or a database itself.
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "exit_codes.h"
#include "process_memory.h"
#include "signals.h"

namespace healthcheck {
namespace {

constexpr int64_t kTickMs = 100;
// A worker that dies without having answered a request, sooner than this
// after its start, is crash-looping: its slot waits before the next try,
// doubling up to the cap. One that answered was killed by something else
// (a hostile record, say) and is replaced at once, however young: under a
// stream of aborts, waiting would take the URL down for the attacker.
constexpr int64_t kHealthyLifetimeMs = 1000;
constexpr int64_t kFirstRestartDelayMs = 100;
constexpr int64_t kMaxRestartDelayMs = 5000;
// A worker is stuck when one request has been answered for twice its
// deadline and this margin: the check itself ends at the deadline, and
// writing a 200-byte answer takes no time.
constexpr int64_t kStuckMarginMs = 1000;
constexpr int64_t kRssCheckEveryMs = 1000;
constexpr int64_t kShutdownMarginMs = 3000;
// Shared regions per worker slot: one for the running worker, the others
// for retiring ones still finishing their requests. A region is reused
// only once the worker that wrote it has been reaped; with none free, a
// new worker waits for a retiring one to go.
constexpr size_t kRegionsPerSlot = 3;

sigset_t MasterSignals() {
  sigset_t set = ServerSignals();
  sigaddset(&set, SIGCHLD);
  return set;
}

class Supervisor {
 public:
  Supervisor(int listen_fd, std::shared_ptr<const App> app, const SupervisorOptions& options,
             Log& log)
      : listen_fd_(listen_fd), app_(std::move(app)), options_(options), log_(log),
        slots_(static_cast<size_t>(options.workers)),
        region_owners_(kRegionsPerSlot * slots_.size(), 0) {}

  ~Supervisor() {
    if (busy_ != nullptr) munmap(busy_, SharedBytes());
  }

  int Run() {
    // Shared with the workers: where each worker thread says since when it
    // has been busy on a request.
    void* shared =
        mmap(nullptr, SharedBytes(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
      log_.error(std::string("healthcheck: cannot map shared memory: ") + strerror(errno));
      return kExitOsError;
    }
    // Regions (kRegionsPerSlot per slot), each a busy stamp per thread then
    // the requests answered, each written by one worker at a time.
    busy_ = new (shared) std::atomic<int64_t>[region_owners_.size() * SlotWords()]();
    sigset_t signals = MasterSignals();
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    const timespec tick = {0, kTickMs * 1000 * 1000};
    for (;;) {
      StartMissingWorkers();
      int signal = sigtimedwait(&signals, nullptr, &tick);
      if (signal == SIGTERM || signal == SIGINT || signal == SIGUSR1) break;
      if (signal == SIGHUP) Reload();
      ReapWorkers();
      KillStuckWorkers();
      RecycleBloatedWorkers();
    }
    return Shutdown();
  }

 private:
  struct Slot {
    pid_t pid = 0;
    int64_t started_ms = 0;
    int64_t next_start_ms = 0;
    int64_t restart_delay_ms = kFirstRestartDelayMs;
    size_t region = 0;  // The shared region the current worker writes.
  };

  int Threads() const { return options_.worker.threads; }
  size_t SlotWords() const { return static_cast<size_t>(Threads()) + 1; }
  size_t SharedBytes() const {
    return region_owners_.size() * SlotWords() * sizeof(std::atomic<int64_t>);
  }
  // The current worker's busy stamps, and its count of answered requests.
  std::atomic<int64_t>* BusySlots(size_t slot) {
    return busy_ + slots_[slot].region * SlotWords();
  }

  // A region that no living worker writes; false when each has a writer.
  bool TakeFreeRegion(size_t* region) {
    for (size_t i = 0; i < region_owners_.size(); ++i) {
      if (region_owners_[i] == 0) {
        *region = i;
        return true;
      }
    }
    return false;
  }

  // `pid` has been reaped: nobody writes its region any more.
  void FreeRegionOf(pid_t pid) {
    for (pid_t& owner : region_owners_) {
      if (owner == pid) owner = 0;
    }
  }
  std::atomic<int64_t>& Answered(size_t slot) { return BusySlots(slot)[Threads()]; }

  void StartMissingWorkers() {
    int64_t now = SteadyNowMs();
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].pid == 0 && now >= slots_[i].next_start_ms) StartWorker(i);
    }
  }

  void StartWorker(size_t index) {
    if (!TakeFreeRegion(&slots_[index].region)) {
      slots_[index].next_start_ms = SteadyNowMs() + kTickMs;
      return;
    }
    for (int t = 0; t < Threads(); ++t) BusySlots(index)[t] = 0;
    Answered(index) = 0;
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
      log_.error(std::string("healthcheck: cannot start a worker: ") + strerror(errno));
      slots_[index].next_start_ms = SteadyNowMs() + kMaxRestartDelayMs;
      return;
    }
    if (pid == 0) {
      // A worker must not outlive its master and keep a socket nobody watches.
      // SIGTERM stays blocked, as the master's signals are: the worker's
      // server takes it with sigtimedwait, so none can be lost on the way.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != master) _exit(kExitOk);
      ServerOptions worker = options_.worker;
      worker.busy_since_ms = BusySlots(index);
      worker.answered = &Answered(index);
      worker.reload = nullptr;  // The master reloads, by replacing workers.
      _exit(ServeFastCgi(listen_fd_, app_, worker, log_));
    }
    slots_[index].pid = pid;
    slots_[index].started_ms = SteadyNowMs();
    region_owners_[slots_[index].region] = pid;
  }

  void ReapWorkers() {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      FreeRegionOf(pid);
      auto retired = std::find(retiring_.begin(), retiring_.end(), pid);
      if (retired != retiring_.end()) {
        retiring_.erase(retired);
        continue;
      }
      for (size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].pid == pid) WorkerEnded(slots_[i], status, Answered(i) > 0);
      }
    }
  }

  void WorkerEnded(Slot& slot, int status, bool answered_any) {
    std::string who = "healthcheck: worker " + std::to_string(slot.pid);
    bool crashed = true;
    if (WIFSIGNALED(status)) {
      log_.error(who + " killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                 strsignal(WTERMSIG(status)) + "); replacing it");
    } else if (WEXITSTATUS(status) != 0) {
      log_.error(who + " exited with status " + std::to_string(WEXITSTATUS(status)) +
                 "; replacing it");
    } else {
      log_.error(who + " retired after its requests; replacing it");
      crashed = false;
    }
    CountRestart();
    int64_t now = SteadyNowMs();
    if (crashed && !answered_any && now - slot.started_ms < kHealthyLifetimeMs) {
      slot.next_start_ms = now + slot.restart_delay_ms;
      slot.restart_delay_ms = std::min(slot.restart_delay_ms * 2, kMaxRestartDelayMs);
    } else {
      slot.next_start_ms = now;
      slot.restart_delay_ms = kFirstRestartDelayMs;
    }
    slot.pid = 0;
  }

  void KillStuckWorkers() {
    int64_t limit_ms = 2 * LongestTimeoutMs(*app_) + kStuckMarginMs;
    int64_t now = SteadyNowMs();
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].pid == 0) continue;
      for (int t = 0; t < Threads(); ++t) {
        int64_t since = BusySlots(i)[t];
        if (since != 0 && now - since > limit_ms) {
          log_.error("healthcheck: worker " + std::to_string(slots_[i].pid) +
                     " stuck on a request for " + std::to_string(now - since) + " ms; killed");
          kill(slots_[i].pid, SIGKILL);
          BusySlots(i)[t] = 0;
          break;
        }
      }
    }
  }

  void RecycleBloatedWorkers() {
    int64_t now = SteadyNowMs();
    if (now - last_rss_check_ms_ < kRssCheckEveryMs) return;
    last_rss_check_ms_ = now;
    for (Slot& slot : slots_) {
      if (slot.pid == 0) continue;
      int64_t resident = ResidentBytes(slot.pid);
      if (resident > options_.max_worker_rss_bytes) {
        log_.error("healthcheck: worker " + std::to_string(slot.pid) + " uses " +
                   std::to_string(resident >> 20) + " MiB; recycling it");
        Retire(slot);
        CountRestart();
      }
    }
  }

  // Asks a worker to finish its requests and go; its slot starts another now.
  // A worker replaced for any reason but a reload, for the metrics.
  void CountRestart() {
    if (app_->counters) app_->counters->CountWorkerRestart();
  }

  void Retire(Slot& slot) {
    kill(slot.pid, SIGTERM);
    retiring_.push_back(slot.pid);
    slot.pid = 0;
    slot.next_start_ms = 0;
  }

  void Reload() {
    if (!options_.worker.reload) {
      log_.error("healthcheck: SIGHUP ignored: no configuration file to reload");
      return;
    }
    Result<std::shared_ptr<const App>> reloaded = options_.worker.reload();
    if (!reloaded.ok()) {
      log_.error("healthcheck: reload refused, still serving the previous configuration: " +
                 reloaded.status().message());
      return;
    }
    app_ = reloaded.value();
    // Start the new workers first, then let the old ones finish: no gap.
    std::vector<pid_t> old;
    for (Slot& slot : slots_) {
      if (slot.pid != 0) old.push_back(slot.pid);
      slot.pid = 0;
      slot.next_start_ms = 0;
    }
    StartMissingWorkers();
    for (pid_t pid : old) {
      kill(pid, SIGTERM);
      retiring_.push_back(pid);
    }
    log_.error("healthcheck: configuration reloaded; workers replaced");
  }

  int Shutdown() {
    std::vector<pid_t> running = retiring_;
    for (const Slot& slot : slots_) {
      if (slot.pid != 0) running.push_back(slot.pid);
    }
    for (pid_t pid : running) kill(pid, SIGTERM);
    int64_t give_up_ms = SteadyNowMs() + LongestTimeoutMs(*app_) + kShutdownMarginMs;
    while (!running.empty()) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid > 0) {
        running.erase(std::remove(running.begin(), running.end(), pid), running.end());
        continue;
      }
      if (pid < 0 && errno == ECHILD) break;
      if (SteadyNowMs() > give_up_ms) {
        log_.error("healthcheck: workers still running after the shutdown grace period; killing them");
        for (pid_t stuck : running) kill(stuck, SIGKILL);
        give_up_ms = INT64_MAX;
      }
      const timespec pause = {0, 10 * 1000 * 1000};
      nanosleep(&pause, nullptr);
    }
    return kExitOk;
  }

  int listen_fd_;
  std::shared_ptr<const App> app_;
  SupervisorOptions options_;
  Log& log_;
  std::vector<Slot> slots_;
  // Which worker writes each shared region; 0 when none does.
  std::vector<pid_t> region_owners_;
  std::vector<pid_t> retiring_;
  std::atomic<int64_t>* busy_ = nullptr;
  int64_t last_rss_check_ms_ = 0;
};

}  // namespace

int Supervise(int listen_fd, std::shared_ptr<const App> app, const SupervisorOptions& options,
              Log& log) {
  return Supervisor(listen_fd, std::move(app), options, log).Run();
}

}  // namespace healthcheck

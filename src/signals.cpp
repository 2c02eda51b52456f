// PrepareSignals and TerminateOnServerSignals.
#include "signals.h"

#include "callables/command_callable.h"

namespace healthcheck {
namespace {

constexpr int kServerSignals[] = {SIGTERM, SIGINT, SIGUSR1, SIGHUP};

// Runs in a one-request process only: a command's process group is its
// own, so it would outlive us; then the signal does what it does by default.
void KillCommandsThenDie(int signal_number) {
  KillRunningCommandGroups();
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  sigaction(signal_number, &default_action, nullptr);
  raise(signal_number);
}

}  // namespace

sigset_t ServerSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signal_number : kServerSignals) sigaddset(&set, signal_number);
  return set;
}

void PrepareSignals() {
  sigset_t handled = ServerSignals();
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  struct sigaction action = {};
  action.sa_handler = SIG_DFL;
  for (int signal_number : kServerSignals) sigaction(signal_number, &action, nullptr);
  action.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &action, nullptr);
  // A file size limit (ulimit -f, LimitFSIZE=) met by a write to the
  // shared files fails that write with EFBIG, which the shield survives,
  // instead of killing the request with SIGXFSZ.
  sigaction(SIGXFSZ, &action, nullptr);
  // A check that runs a command waits for it; an inherited SIG_IGN would reap it for us.
  action.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &action, nullptr);
}

void TerminateOnServerSignals() {
  struct sigaction action = {};
  action.sa_handler = KillCommandsThenDie;
  sigfillset(&action.sa_mask);  // One handler at a time.
  for (int signal_number : kServerSignals) sigaction(signal_number, &action, nullptr);
  sigset_t handled = ServerSignals();
  pthread_sigmask(SIG_UNBLOCK, &handled, nullptr);
}

}  // namespace healthcheck

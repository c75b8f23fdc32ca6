#pragma once
// SIGTERM/SIGINT (and, with TLS, SIGHUP) handling shared by the servers' main(): block the
// signals in every thread (construct before starting any), then wait for one on the main thread.

#include <csignal>

namespace status::common {

/// Construct on the main thread before any other thread starts; threads inherit the mask, so
/// only wait() sees SIGTERM/SIGINT. Also ignores SIGPIPE (writes to closed sockets fail instead).
class StopSignals {
 public:
  /// `hangup`: SIGHUP is waited for too (wait() returns it; the caller goes on waiting).
  explicit StopSignals(bool hangup = false) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    if (hangup) sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
  }
  /// Blocks until SIGTERM or SIGINT (or SIGHUP, when asked for) arrives; returns its number.
  int wait() {
    int sig = 0;
    sigwait(&set_, &sig);
    return sig;
  }

 private:
  sigset_t set_;
};

}  // namespace status::common

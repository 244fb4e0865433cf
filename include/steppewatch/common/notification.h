// Notification: a one-shot event (the interface of absl::Notification) built on std::mutex and
// std::condition_variable (through steppewatch/common/mutex.h).
//
// Why not absl::Notification: Debian's libabsl is not built with ThreadSanitizer, so TSan does
// not see absl's synchronisation and reports every hand-off through it as a data race. std::mutex
// and std::condition_variable go through pthread, which TSan intercepts. The project therefore
// uses std synchronisation everywhere (see tests/README.md, "ThreadSanitizer").
//
// Thread-safe: any thread may Notify() (more than once: later calls do nothing, unlike absl's,
// which aborts) and any number may wait. Not copyable or movable. HasBeenNotified() is one
// acquire load, cheap enough to poll.
#pragma once

#include <atomic>
#include <chrono>

#include "absl/time/time.h"
#include "steppewatch/common/mutex.h"

namespace steppewatch {

class Notification {
 public:
  Notification() = default;
  Notification(const Notification&) = delete;
  Notification& operator=(const Notification&) = delete;

  void Notify() {
    MutexLock lock(&mu_);
    notified_.store(true, std::memory_order_release);
    cv_.SignalAll();
  }

  bool HasBeenNotified() const { return notified_.load(std::memory_order_acquire); }

  void WaitForNotification() const {
    MutexLock lock(&mu_);
    while (!HasBeenNotified()) cv_.Wait(&mu_);
  }

  // Returns true when notified before `deadline` (absl::Time is wall-clock time).
  bool WaitForNotificationWithDeadline(absl::Time deadline) const {
    MutexLock lock(&mu_);
    while (!HasBeenNotified()) {
      if (!cv_.WaitWithDeadline(&mu_, deadline)) return HasBeenNotified();
    }
    return true;
  }

  // Returns true when notified within `timeout` (measured on the steady clock).
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const {
    if (timeout == absl::InfiniteDuration()) {
      WaitForNotification();
      return true;
    }
    const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
    MutexLock lock(&mu_);
    while (!HasBeenNotified()) {
      if (!cv_.WaitUntil(&mu_, deadline)) return HasBeenNotified();
    }
    return true;
  }

 private:
  // mu_ and cv_ only make waiting possible; the state is the atomic, readable without the lock.
  mutable Mutex mu_;
  mutable CondVar cv_;
  std::atomic<bool> notified_{false};
};

}  // namespace steppewatch

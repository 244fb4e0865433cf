// Notification: a one-shot event (the interface of absl::Notification) built on std::mutex and
// std::condition_variable.
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
#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"

namespace steppewatch {

class Notification {
 public:
  Notification() = default;
  Notification(const Notification&) = delete;
  Notification& operator=(const Notification&) = delete;

  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    notified_.store(true, std::memory_order_release);
    cv_.notify_all();
  }

  bool HasBeenNotified() const { return notified_.load(std::memory_order_acquire); }

  void WaitForNotification() const {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return HasBeenNotified(); });
  }

  // Returns true when notified before `deadline` (absl::Time is wall-clock time).
  bool WaitForNotificationWithDeadline(absl::Time deadline) const {
    if (deadline == absl::InfiniteFuture()) {
      WaitForNotification();
      return true;
    }
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return HasBeenNotified(); });
  }

  // Returns true when notified within `timeout` (measured on the steady clock).
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const {
    if (timeout == absl::InfiniteDuration()) {
      WaitForNotification();
      return true;
    }
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                        [this] { return HasBeenNotified(); });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::atomic<bool> notified_{false};
};

}  // namespace steppewatch

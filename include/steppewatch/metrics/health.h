// HealthState: what /healthz (liveness) and /readyz (readiness) answer, kept in atomics so the
// HTTP server's threads read it without a lock and the daemon's threads write it without one.
//
// Meaning (the contract for Kubernetes probes and for deploy/OBSERVABILITY.md):
// - Live   = every registered heartbeat (the main loop and each worker) beat within
//            `stale_after`. Nothing about Kafka: a broker outage must not restart pods, so threads
//            beat while they wait (their waits are bounded), whatever the broker does.
// - Ready  = live, the rule pack is loaded, the consumer is created and subscribed (assigned some
//            partitions or waiting for an assignment: an instance with no partitions in an
//            over-provisioned group is still ready), and the daemon is not draining.
//   A Kafka outage does not make an instance unready either: readiness gates traffic, and
//   steppewatch takes no traffic except from Kafka.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"

namespace steppewatch::metrics {

// Thread-safe. Owned by the daemon, outliving the MetricsServer that reads it. Register
// heartbeats at start-up (AddHeartbeat takes a mutex); Beat() and the setters are single relaxed
// atomic stores, fit for a worker's loop.
class HealthState {
 public:
  using Clock = std::chrono::steady_clock;  // monotonic: a wall-clock step must not kill a pod

  // Heartbeat slots: the main loop plus one per worker; 64 is far above the worker count a
  // 2-8 core instance runs, and a fixed array keeps Beat() lock-free.
  static constexpr int kMaxHeartbeats = 64;

  struct Options {
    // A thread that has not beaten for this long is stuck. Threads beat at least every poll
    // timeout (100s of ms); 30 s leaves room for a slow item (1 MiB, many hits) and a stalled
    // page-in, and with Kubernetes' default failureThreshold 3 a stuck pod restarts in ~1.5 min.
    std::chrono::nanoseconds stale_after = std::chrono::seconds(30);
  };

  struct Verdict {
    bool ok = false;
    std::string reason;  // "ok", or what is wrong, for the probe's response body and logs
  };

  HealthState() : HealthState(Options{}) {}
  explicit HealthState(Options options) : options_(options) {}

  HealthState(const HealthState&) = delete;
  HealthState& operator=(const HealthState&) = delete;

  // Registers a heartbeat named `name` ("main", "worker-3") and returns its slot for Beat().
  // The slot counts as beaten now. Returns -1 when kMaxHeartbeats are already taken.
  int AddHeartbeat(std::string_view name);

  // Stops checking `slot` (a worker that exited on purpose).
  void RemoveHeartbeat(int slot);

  // Records that the thread owning `slot` made progress.
  void Beat(int slot) { Beat(slot, Clock::now()); }
  void Beat(int slot, Clock::time_point now);

  void SetRulesLoaded(bool loaded) { rules_loaded_.store(loaded, std::memory_order_relaxed); }
  // The consumer exists and has subscribed (assigned, or waiting for its first assignment).
  void SetConsumerSubscribed(bool subscribed) {
    consumer_subscribed_.store(subscribed, std::memory_order_relaxed);
  }
  // Draining on SIGTERM: stop being ready at once, so the Service stops counting this pod.
  void SetDraining(bool draining) { draining_.store(draining, std::memory_order_relaxed); }

  bool rules_loaded() const { return rules_loaded_.load(std::memory_order_relaxed); }
  bool consumer_subscribed() const { return consumer_subscribed_.load(std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }

  // Evaluates liveness / readiness as of `now`.
  Verdict Liveness(Clock::time_point now) const;
  Verdict Readiness(Clock::time_point now) const;
  Verdict Liveness() const { return Liveness(Clock::now()); }
  Verdict Readiness() const { return Readiness(Clock::now()); }

 private:
  struct Slot {
    std::atomic<bool> used{false};
    std::atomic<int64_t> last_beat_ns{0};  // Clock's epoch; only differences matter
  };

  const Options options_;
  std::array<Slot, kMaxHeartbeats> slots_;
  mutable absl::Mutex names_mu_;  // taken by AddHeartbeat and by a failing Liveness() only
  std::array<std::string, kMaxHeartbeats> names_ ABSL_GUARDED_BY(names_mu_);
  std::atomic<bool> rules_loaded_{false};
  std::atomic<bool> consumer_subscribed_{false};
  std::atomic<bool> draining_{false};
};

}  // namespace steppewatch::metrics

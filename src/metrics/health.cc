#include "steppewatch/metrics/health.h"

#include "absl/strings/str_cat.h"

namespace steppewatch::metrics {
namespace {

int64_t ToNanos(HealthState::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

int HealthState::AddHeartbeat(std::string_view name) {
  absl::MutexLock lock(&names_mu_);
  for (int i = 0; i < kMaxHeartbeats; ++i) {
    if (slots_[i].used.load(std::memory_order_relaxed)) continue;
    names_[i] = std::string(name);
    slots_[i].last_beat_ns.store(ToNanos(Clock::now()), std::memory_order_relaxed);
    slots_[i].used.store(true, std::memory_order_release);
    return i;
  }
  return -1;
}

void HealthState::RemoveHeartbeat(int slot) {
  if (slot < 0 || slot >= kMaxHeartbeats) return;
  absl::MutexLock lock(&names_mu_);
  slots_[slot].used.store(false, std::memory_order_release);
}

void HealthState::Beat(int slot, Clock::time_point now) {
  if (slot < 0 || slot >= kMaxHeartbeats) return;
  slots_[slot].last_beat_ns.store(ToNanos(now), std::memory_order_relaxed);
}

HealthState::Verdict HealthState::Liveness(Clock::time_point now) const {
  const int64_t now_ns = ToNanos(now);
  const int64_t stale_ns = options_.stale_after.count();
  for (int i = 0; i < kMaxHeartbeats; ++i) {
    if (!slots_[i].used.load(std::memory_order_acquire)) continue;
    const int64_t age_ns = now_ns - slots_[i].last_beat_ns.load(std::memory_order_relaxed);
    if (age_ns > stale_ns) {
      absl::MutexLock lock(&names_mu_);
      return {false, absl::StrCat("heartbeat '", names_[i], "' is stale: last beat ",
                                  age_ns / 1000000, " ms ago (limit ", stale_ns / 1000000, " ms)")};
    }
  }
  return {true, "ok"};
}

HealthState::Verdict HealthState::Readiness(Clock::time_point now) const {
  // Checked in start-up order so the reason names the first step that is not done.
  Verdict live = Liveness(now);
  if (!live.ok) return {false, absl::StrCat("not live: ", live.reason)};
  if (draining()) return {false, "draining"};
  if (!rules_loaded()) return {false, "rule pack not loaded"};
  if (!consumer_subscribed()) return {false, "consumer not subscribed"};
  return {true, "ok"};
}

}  // namespace steppewatch::metrics

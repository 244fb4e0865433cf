// InFlightLimiter: bounds the work between "consumed" and "every output acked" by item count and
// by payload bytes, with hysteresis, and tells the consumer thread when to pause and resume its
// partitions.
//
// Why hysteresis: pausing drops librdkafka's prefetched data for the partition and resuming
// refetches it, so flapping at one threshold would refetch the same data over and over. The
// consumer pauses when either count reaches its limit and resumes only when both are back
// below resume_fraction of their limits.
//
// Thread-safe. Admit()/Decide() on the consumer thread; Release() from any thread (workers,
// the delivery-report thread). WaitEmpty() is for the shutdown drain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/time/clock.h"  // absl::Now() for callers building deadlines
#include "absl/time/time.h"
#include "steppewatch/common/mutex.h"
#include "steppewatch/pipeline/stats.h"

namespace steppewatch::pipeline {

struct InFlightLimits {
  // 20000 items: at the measured ~100k items/s this is 0.2 s of work, enough to keep 2..16
  // workers and the producer's batches full, small enough that a revoke drains quickly.
  size_t max_items = 20000;
  // 256 MiB of input payloads (each held until its outputs are acked): bounds memory when items
  // are large (the decoder accepts up to 1 MiB each).
  size_t max_bytes = 256u << 20;
  // Resume when both are below this fraction of their limits.
  double resume_fraction = 0.5;
};

class InFlightLimiter {
 public:
  enum class Decision : uint8_t { kNone, kPause, kResume };

  // `health` (may be null) gets the in-flight gauges. `on_resumable` (may be empty) is called,
  // outside the lock, by the Release() that first crosses below the resume threshold while
  // paused: the consumer uses it to wake its poll.
  InFlightLimiter(const InFlightLimits& limits, Health* health,
                  std::function<void()> on_resumable = {});

  // Accounts `items` consumed items of `bytes` in all (the pipeline admits what one poll
  // round took, and releases what one worker batch finished, under one lock).
  void Admit(size_t bytes, size_t items = 1);
  // Releases `items` finished (or abandoned) items of `bytes` in all.
  void Release(size_t bytes, size_t items = 1);

  // Consumer thread: returns what to do now given the current counts and whether the
  // partitions are paused (the limiter remembers the state it last decided).
  Decision Decide();
  bool paused() const;

  size_t items() const;
  size_t bytes() const;
  // What may still be admitted before a limit is reached (0 when one is reached): the consumer
  // takes a round of messages up to this, so batching never passes a limit.
  void Room(size_t* items, size_t* bytes) const;

  // Blocks until nothing is in flight or `deadline`; returns true when empty.
  bool WaitEmpty(absl::Time deadline) const;

 private:
  bool AboveHighLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool BelowLowLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const InFlightLimits limits_;
  Health* const health_;
  const std::function<void()> on_resumable_;
  mutable Mutex mu_;
  mutable CondVar empty_cv_;  // signalled when items_ drops to 0
  size_t items_ ABSL_GUARDED_BY(mu_) = 0;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool resumable_signalled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace steppewatch::pipeline

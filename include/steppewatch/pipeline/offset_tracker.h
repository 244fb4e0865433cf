// PartitionOffsets: the low watermark of finished offsets of one input partition, the heart of
// the at-least-once guarantee.
//
// An item is "finished" when its processing is done AND every message it produced (alerts, dead
// letter) has a successful delivery report. Items finish out of order (several workers, outputs
// on different partitions acked at different times, retried deliveries). The offset that may be
// stored for the partition is last_contiguous_finished + 1: every item below it is finished.
//
// Use:
//   consumer thread:  seq = offsets.Begin(msg offset)      (offsets strictly increasing)
//   any thread:       offsets.Finish(seq)                   (exactly once per Begin)
//   consumer thread:  offsets.TakeCommittable() -> store it with rd_kafka_offsets_store
// Begin() and Finish() are O(1) (a sequence number indexes a ring of entries, so gaps in the
// offsets, as after compaction or transaction markers, cost nothing) and allocate only when the
// ring grows past its largest size so far.
//
// Thread-safe (one mutex per partition, held for a few instructions per item). Shared by
// the consumer thread, the workers and the delivery-report thread through std::shared_ptr, so a
// revoked partition lives until its last in-flight item lets go of it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/clock.h"  // absl::Now() for callers building deadlines
#include "absl/time/time.h"
#include "steppewatch/common/mutex.h"

namespace steppewatch::pipeline {

class PartitionOffsets {
 public:
  PartitionOffsets(std::string topic, int32_t partition);
  PartitionOffsets(const PartitionOffsets&) = delete;
  PartitionOffsets& operator=(const PartitionOffsets&) = delete;

  const std::string& topic() const { return topic_; }
  int32_t partition() const { return partition_; }

  // Registers `offset` as in flight and returns its sequence number for Finish(). Offsets must
  // increase from one call to the next (as Kafka delivers them within a partition).
  uint64_t Begin(int64_t offset);

  // Marks the item `seq` finished (processed and all outputs acked).
  void Finish(uint64_t seq);
  // Marks the items seqs[0..n) finished under one lock: Finish() of each, in any order.
  void FinishMany(const uint64_t* seqs, size_t n);

  // Returns the offset to store (last contiguous finished offset + 1) if it moved since the
  // last call, else -1. Always -1 once Abandon()ed.
  int64_t TakeCommittable();

  // Returns the highest offset ever made committable (-1 if none): what Kafka holds after
  // the next commit, for logs and tests.
  int64_t committed_watermark() const;

  // Items begun and not finished.
  size_t in_flight() const;

  // Blocks until in_flight() == 0 or `deadline`; returns true when idle.
  bool WaitIdle(absl::Time deadline) const;

  // Gives up on the partition (assignment lost, or a revoke whose drain ran out of time): no
  // offset will be committable any more; workers may skip its queued items. In-flight items
  // still Finish() normally (their outputs may be delivered: duplicates, never losses).
  void Abandon();
  bool abandoned() const { return abandoned_.load(std::memory_order_acquire); }

 private:
  struct Entry {
    int64_t offset;
    bool finished;
  };
  void GrowLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkLocked(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Advances over the contiguous finished prefix; signals idle_cv_ once nothing is in flight.
  void AdvanceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // First, with the constant fields, on a cache line apart from the lock and the ring: workers
  // read the flag for every item (and prefetch the object's start for it) while the consumer
  // thread and the workers write the lock's line for every item; on one line, each read of the
  // flag was a cache miss.
  alignas(64) std::atomic<bool> abandoned_{false};  // read by workers per item without the lock
  const std::string topic_;
  const int32_t partition_;
  alignas(64) mutable Mutex mu_;
  mutable CondVar idle_cv_;                       // signalled when in_flight() drops to 0
  std::vector<Entry> ring_ ABSL_GUARDED_BY(mu_);  // size is a power of two
  // seq of the oldest unfinished-or-pending entry
  uint64_t head_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_begun_offset_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t committable_ ABSL_GUARDED_BY(mu_) = -1;  // last contiguous finished + 1
  int64_t taken_ ABSL_GUARDED_BY(mu_) = -1;        // last value TakeCommittable returned
};

}  // namespace steppewatch::pipeline

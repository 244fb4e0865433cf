// PartitionOffsets (see offset_tracker.h).
#include "steppewatch/pipeline/offset_tracker.h"

#include <utility>

#include "steppewatch/common/check.h"

namespace steppewatch::pipeline {

namespace {
// The ring starts with room for 1024 items: a partition rarely has more in flight than the
// pipeline's whole in-flight limit, and doubling covers the rest.
constexpr size_t kInitialRing = 1024;
}  // namespace

PartitionOffsets::PartitionOffsets(std::string topic, int32_t partition)
    : topic_(std::move(topic)), partition_(partition), ring_(kInitialRing) {}

void PartitionOffsets::GrowLocked() {
  std::vector<Entry> bigger(ring_.size() * 2);
  const size_t old_mask = ring_.size() - 1;
  const size_t new_mask = bigger.size() - 1;
  for (uint64_t s = head_seq_; s < next_seq_; ++s) bigger[s & new_mask] = ring_[s & old_mask];
  ring_ = std::move(bigger);
}

uint64_t PartitionOffsets::Begin(int64_t offset) {
  MutexLock lock(&mu_);
  // Offsets go up within a partition. After an offset reset to an earlier offset they may not:
  // then the committable offset can move back, which only re-consumes more (safe direction).
  last_begun_offset_ = offset;
  if (next_seq_ - head_seq_ == ring_.size()) GrowLocked();
  const uint64_t seq = next_seq_++;
  ring_[seq & (ring_.size() - 1)] = Entry{offset, false};
  return seq;
}

void PartitionOffsets::MarkLocked(uint64_t seq) {
  SW_CHECK(seq >= head_seq_ && seq < next_seq_);
  ring_[seq & (ring_.size() - 1)].finished = true;
}

void PartitionOffsets::AdvanceLocked() {
  const size_t mask = ring_.size() - 1;
  while (head_seq_ < next_seq_ && ring_[head_seq_ & mask].finished) {
    committable_ = ring_[head_seq_ & mask].offset + 1;
    ++head_seq_;
  }
  if (head_seq_ == next_seq_) idle_cv_.SignalAll();
}

void PartitionOffsets::Finish(uint64_t seq) {
  MutexLock lock(&mu_);
  MarkLocked(seq);
  AdvanceLocked();
}

void PartitionOffsets::FinishMany(const uint64_t* seqs, size_t n) {
  MutexLock lock(&mu_);
  for (size_t i = 0; i < n; ++i) MarkLocked(seqs[i]);
  AdvanceLocked();
}

int64_t PartitionOffsets::TakeCommittable() {
  MutexLock lock(&mu_);
  if (abandoned() || committable_ == taken_) return -1;
  taken_ = committable_;
  return committable_;
}

int64_t PartitionOffsets::committed_watermark() const {
  MutexLock lock(&mu_);
  return taken_;
}

size_t PartitionOffsets::in_flight() const {
  MutexLock lock(&mu_);
  return static_cast<size_t>(next_seq_ - head_seq_);
}

bool PartitionOffsets::WaitIdle(absl::Time deadline) const {
  MutexLock lock(&mu_);
  while (head_seq_ != next_seq_) {
    if (!idle_cv_.WaitWithDeadline(&mu_, deadline)) return head_seq_ == next_seq_;
  }
  return true;
}

void PartitionOffsets::Abandon() { abandoned_.store(true, std::memory_order_release); }

}  // namespace steppewatch::pipeline

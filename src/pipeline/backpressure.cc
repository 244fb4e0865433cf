// InFlightLimiter (see backpressure.h).
#include "steppewatch/pipeline/backpressure.h"

#include <utility>

namespace steppewatch::pipeline {

InFlightLimiter::InFlightLimiter(const InFlightLimits& limits, Health* health,
                                 std::function<void()> on_resumable)
    : limits_(limits), health_(health), on_resumable_(std::move(on_resumable)) {}

bool InFlightLimiter::AboveHighLocked() const {
  return items_ >= limits_.max_items || bytes_ >= limits_.max_bytes;
}

bool InFlightLimiter::BelowLowLocked() const {
  return static_cast<double>(items_) < limits_.resume_fraction * limits_.max_items &&
         static_cast<double>(bytes_) < limits_.resume_fraction * limits_.max_bytes;
}

void InFlightLimiter::Admit(size_t bytes, size_t items) {
  MutexLock lock(&mu_);
  items_ += items;
  bytes_ += bytes;
  if (health_ != nullptr) {
    health_->in_flight_items.Set(static_cast<int64_t>(items_));
    health_->in_flight_bytes.Set(static_cast<int64_t>(bytes_));
  }
}

void InFlightLimiter::Release(size_t bytes, size_t items) {
  bool signal = false;
  {
    MutexLock lock(&mu_);
    items_ -= items;
    bytes_ -= bytes;
    if (health_ != nullptr) {
      health_->in_flight_items.Set(static_cast<int64_t>(items_));
      health_->in_flight_bytes.Set(static_cast<int64_t>(bytes_));
    }
    if (items_ == 0) empty_cv_.SignalAll();
    if (paused_ && !resumable_signalled_ && BelowLowLocked()) {
      resumable_signalled_ = true;
      signal = true;
    }
  }
  if (signal && on_resumable_) on_resumable_();
}

InFlightLimiter::Decision InFlightLimiter::Decide() {
  MutexLock lock(&mu_);
  if (!paused_ && AboveHighLocked()) {
    paused_ = true;
    resumable_signalled_ = false;
    return Decision::kPause;
  }
  if (paused_ && BelowLowLocked()) {
    paused_ = false;
    return Decision::kResume;
  }
  return Decision::kNone;
}

bool InFlightLimiter::paused() const {
  MutexLock lock(&mu_);
  return paused_;
}

size_t InFlightLimiter::items() const {
  MutexLock lock(&mu_);
  return items_;
}

size_t InFlightLimiter::bytes() const {
  MutexLock lock(&mu_);
  return bytes_;
}

void InFlightLimiter::Room(size_t* items, size_t* bytes) const {
  MutexLock lock(&mu_);
  *items = items_ < limits_.max_items ? limits_.max_items - items_ : 0;
  *bytes = bytes_ < limits_.max_bytes ? limits_.max_bytes - bytes_ : 0;
}

bool InFlightLimiter::WaitEmpty(absl::Time deadline) const {
  MutexLock lock(&mu_);
  while (items_ != 0) {
    if (!empty_cv_.WaitWithDeadline(&mu_, deadline)) return items_ == 0;
  }
  return true;
}

}  // namespace steppewatch::pipeline

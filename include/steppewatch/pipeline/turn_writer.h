// TurnWriter: results numbered 0, 1, 2, ... that several worker threads produce, written by those
// same workers, one at a time, in sequence order (or as they come), with no writer thread.
//
// Why no writer thread: `steppewatch match --threads 2` on two cores woke a third thread per
// batch to write it, and each wake-up displaced a worker (about two context switches per batch).
// Here the worker that hands a result over writes whatever is ready unless another worker is
// writing; that one then writes it too before it stops (flat combining). Writing happens outside
// the lock, so the other workers never wait for the output.
//
// Thread-safe. `write` is called by one thread at a time, outside the lock, and may reset the
// result for reuse; written results come back through TakeSpare(), so their buffers keep their
// capacity. One lock per result handed over: meant for batches, not items.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "steppewatch/common/mutex.h"

namespace steppewatch::pipeline {

template <typename T>
class TurnWriter {
 public:
  using WriteFn = std::function<void(T&)>;

  // With `ordered`, results are written in sequence order; otherwise in the order they are
  // handed over.
  TurnWriter(bool ordered, WriteFn write) : ordered_(ordered), write_(std::move(write)) {}
  TurnWriter(const TurnWriter&) = delete;
  TurnWriter& operator=(const TurnWriter&) = delete;

  // Returns a result that was written, or null when there is none.
  std::unique_ptr<T> TakeSpare() {
    MutexLock lock(&mu_);
    if (spare_.empty()) return nullptr;
    std::unique_ptr<T> r = std::move(spare_.back());
    spare_.pop_back();
    return r;
  }

  // Hands over result `seq` (each of 0, 1, 2, ... exactly once). If no other thread is writing,
  // writes every result that is ready (with `ordered`, only the next ones in sequence) until
  // none is, then returns. Otherwise returns at once: the writing thread writes it before it
  // stops writing.
  void Submit(uint64_t seq, std::unique_ptr<T> result) {
    mu_.Lock();
    ready_.emplace(seq, std::move(result));
    if (writing_) {
      mu_.Unlock();
      return;
    }
    writing_ = true;
    // taken_ belongs to the thread whose turn it is (writing_), not to the lock.
    while (TakeReadyLocked()) {
      mu_.Unlock();
      for (std::unique_ptr<T>& r : taken_) write_(*r);
      mu_.Lock();
      written_ += taken_.size();
      for (std::unique_ptr<T>& r : taken_) spare_.push_back(std::move(r));
      taken_.clear();
    }
    writing_ = false;
    if (closed_ && written_ == count_) written_cv_.SignalAll();
    mu_.Unlock();
  }

  // Says that `count` results are handed over in all; WaitWritten() waits for them. Calling it
  // again with the same count (each worker that sees the input end) changes nothing.
  void Close(uint64_t count) {
    MutexLock lock(&mu_);
    closed_ = true;
    count_ = count;
    if (written_ == count_) written_cv_.SignalAll();
  }

  // Blocks until Close() was called and every result is written, or until `deadline`; returns
  // true when they are written.
  bool WaitWritten(std::chrono::steady_clock::time_point deadline) {
    MutexLock lock(&mu_);
    while (!(closed_ && written_ == count_)) {
      if (!written_cv_.WaitUntil(&mu_, deadline)) return closed_ && written_ == count_;
    }
    return true;
  }

  uint64_t written() const {
    MutexLock lock(&mu_);
    return written_;
  }

 private:
  // Moves what may be written now from ready_ to taken_; false when nothing may.
  bool TakeReadyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (!ready_.empty() && (!ordered_ || ready_.begin()->first == next_)) {
      taken_.push_back(std::move(ready_.begin()->second));
      ready_.erase(ready_.begin());
      ++next_;
    }
    return !taken_.empty();
  }

  const bool ordered_;
  const WriteFn write_;
  mutable Mutex mu_;
  CondVar written_cv_;  // signalled when every result is written after Close()
  std::map<uint64_t, std::unique_ptr<T>> ready_ ABSL_GUARDED_BY(mu_);  // handed over, by seq
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;  // ordered: the next seq to write
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<T>> taken_;  // the writing thread's (see Submit)
  std::vector<std::unique_ptr<T>> spare_ ABSL_GUARDED_BY(mu_);
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace steppewatch::pipeline

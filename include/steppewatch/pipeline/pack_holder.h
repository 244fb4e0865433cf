// PackHolder: the running rule pack, swapped whole on reload. Workers poll generation() once per
// item (one relaxed atomic load, no lock) and take a new snapshot with Get() only when it moved;
// items in flight finish with the pack they started with.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "steppewatch/common/mutex.h"

namespace steppewatch::rules {
class CompiledPack;
}

namespace steppewatch::pipeline {

// Thread-safe. Owned by the daemon; the reloader calls Swap(), workers call generation()/Get().
class PackHolder {
 public:
  explicit PackHolder(std::shared_ptr<const rules::CompiledPack> pack) : pack_(std::move(pack)) {}

  // Returns a counter that changes every time Swap() installs a new pack.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Returns the current pack (never null once constructed with a pack).
  std::shared_ptr<const rules::CompiledPack> Get() const {
    MutexLock lock(&mu_);  // Taken once per swap per worker, not per item.
    return pack_;
  }

  // Installs `pack` for items that start after this call.
  void Swap(std::shared_ptr<const rules::CompiledPack> pack) {
    {
      MutexLock lock(&mu_);
      pack_ = std::move(pack);
    }
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }

 private:
  mutable Mutex mu_;
  std::shared_ptr<const rules::CompiledPack> pack_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> generation_{0};
};

}  // namespace steppewatch::pipeline

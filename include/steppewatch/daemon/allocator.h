// TuneAllocator: glibc malloc settings for a process that runs librdkafka's consumer, applied by
// steppewatchd before it starts any thread.
//
// The trap (deploy/README.md, "Scale"; benchmarks/README.md, "Allocator round"): librdkafka
// allocates one buffer per fetch response (up to fetch.max.bytes, 4 MiB) in its broker thread,
// and the buffer is freed by whichever thread destroys the buffer's last message. glibc gives
// every thread its own arena; a thread's arena grows in 64 MiB heaps, and when the top of a
// heap is free over the whole heap, glibc unmaps that heap at once, whatever the trim threshold
// says. Fetch buffers fill heaps and empty them again as the prefetch queue drains, so the
// broker thread's heaps are unmapped and mapped again all the time: every received page was a
// fresh page, faulted in by the kernel's copy in recvmsg (perf record -e page-faults: 91% of the
// daemon's faults; 54-74 per 1,000 items with the default pack, ~0.3 us of CPU per item).
//
// What is set (each unless the operator names it in GLIBC_TUNABLES, which then wins):
//   arena_max = 1            one arena, the main one, grown with brk: it is trimmed only above
//                            the trim threshold, never unmapped a heap at a time;
//   trim_threshold = 256 MiB free memory at the top of the heap is kept up to this much (twice
//                            the prefetch queue's 128 MiB cap), so a draining queue is not given
//                            back to the kernel and faulted in again;
//   mmap_threshold = 32 MiB  glibc's largest; allocations below it come from the heap (setting
//                            it also stops glibc's own threshold from moving).
// The cost is resident memory: the heap stays at its high-water mark (up to 256 MiB free in it).
// Under a sanitizer, which replaces malloc, the settings do nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace steppewatch::daemon {

// One mallopt(3) setting TuneAllocator applies.
struct AllocatorSetting {
  std::string tunable;  // its GLIBC_TUNABLES name, e.g. "glibc.malloc.arena_max"
  int param;            // its mallopt parameter (M_ARENA_MAX...)
  int value;
};

// The settings to apply given the value of GLIBC_TUNABLES (empty when unset): every one the
// variable does not name.
std::vector<AllocatorSetting> AllocatorSettings(std::string_view glibc_tunables);

// Applies AllocatorSettings(getenv("GLIBC_TUNABLES")) with mallopt. Call before any thread
// starts. Returns a line for the log: what was set, or why something was left.
std::string TuneAllocator();

}  // namespace steppewatch::daemon

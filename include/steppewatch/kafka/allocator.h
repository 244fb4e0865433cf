// TuneAllocator: glibc malloc settings for a process whose work is reading a Kafka backlog with
// librdkafka's consumer (steppewatchd, `steppewatch tail`), applied before any thread starts.
//
// The trap (benchmarks/README.md, "Allocator round" and "Fetch-queue round"): librdkafka
// allocates one buffer per fetch response (up to fetch.max.bytes, 4 MiB) in its broker thread,
// freed by whichever thread destroys the buffer's last message. glibc gives each thread an arena;
// a thread's arena grows in 64 MiB heaps and gives a heap back as soon as the free space at its
// top passes the trim threshold or the heap empties. Fetch buffers fill heaps and empty them as
// the prefetch queue fills and drains, so the broker thread's heaps were given back and taken
// again all the time, and every received page was a fresh one, faulted in by the kernel's copy in
// recvmsg (perf record -e page-faults: 91% of the daemon's faults, ~0.6 us of the broker thread's
// CPU per item with the default pack).
//
// What is set (each unless the operator names it in GLIBC_TUNABLES, which then wins):
//   top_pad = 64 MiB         a heap keeps this much free memory when it is trimmed, and glibc
//                            gives back a thread's emptied heap only when more than this is free
//                            beside it: a draining queue's heaps stay mapped;
//   trim_threshold = 256 MiB free memory at the top of the main heap is kept up to this much;
//   mmap_threshold = 32 MiB  glibc's largest; allocations below it come from the heaps (setting it
//                            also stops glibc's own threshold from moving).
// Per-thread arenas stay: one arena (arena_max=1) ends the faults too but puts every thread's
// malloc behind one lock, and cost the daemon 22-24% of its items/s on a quiet machine.
// The cost is resident memory: each arena stays near its high-water mark. With the fetch queue
// filled (kafka/client.cc: queued.max.messages.kbytes) that is the queue's size, kept.
// Under a sanitizer, which replaces malloc, the settings do nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace steppewatch::kafka {

// One mallopt(3) setting TuneAllocator applies.
struct AllocatorSetting {
  std::string tunable;  // its GLIBC_TUNABLES name, e.g. "glibc.malloc.top_pad"
  int param;            // its mallopt parameter (M_TOP_PAD...)
  int value;
};

// The settings to apply given the value of GLIBC_TUNABLES (empty when unset): every one the
// variable does not name.
std::vector<AllocatorSetting> AllocatorSettings(std::string_view glibc_tunables);

// Applies AllocatorSettings(getenv("GLIBC_TUNABLES")) with mallopt. Call before any thread
// starts. Returns a line for the log: what was set, or why something was left.
std::string TuneAllocator();

}  // namespace steppewatch::kafka

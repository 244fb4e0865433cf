// TuneAllocator (steppewatch/kafka/allocator.h): which settings apply, and that with them a
// thread's freed fetch-sized buffers come back without page faults, where glibc's defaults
// unmap and fault them in again.
#include "steppewatch/kafka/allocator.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace steppewatch::kafka {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

TEST(AllocatorSettings, AllThreeWithoutTunables) {
  EXPECT_THAT(AllocatorSettings(""),
              ElementsAre(Field(&AllocatorSetting::tunable, "glibc.malloc.top_pad"),
                          Field(&AllocatorSetting::tunable, "glibc.malloc.trim_threshold"),
                          Field(&AllocatorSetting::tunable, "glibc.malloc.mmap_threshold")));
  // The deployed setting (the unit's and the image's) names none of them.
  EXPECT_EQ(AllocatorSettings("glibc.malloc.hugetlb=1").size(), 3u);
}

TEST(AllocatorSettings, TunablesTheOperatorNamesAreLeftToThem) {
  EXPECT_THAT(AllocatorSettings("glibc.malloc.hugetlb=1:glibc.malloc.top_pad=4096"),
              ElementsAre(Field(&AllocatorSetting::tunable, "glibc.malloc.trim_threshold"),
                          Field(&AllocatorSetting::tunable, "glibc.malloc.mmap_threshold")));
  EXPECT_THAT(AllocatorSettings("glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold="
                                "0::glibc.malloc.top_pad=0"),
              IsEmpty());
  // A name is matched whole: a longer one is not the setting.
  EXPECT_EQ(AllocatorSettings("glibc.malloc.top_padx=1:glibc.malloc.arena_max=1").size(), 3u);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizerMalloc = true;
#else
constexpr bool kSanitizerMalloc = false;
#endif

// In a child process (a fresh malloc state), optionally tunes the allocator, then in a new
// thread fills 160 MiB with 4 MiB buffers (librdkafka's fetch.max.bytes), touches every page and
// frees them all, three times, as a prefetch queue fills and drains. Returns the thread's minor
// page faults in the second and third rounds (the first faults the memory in either way).
long RefaultsOfDrainedQueue(bool tune) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (tune) TuneAllocator();
    long faults = -1;
    std::thread([&faults] {
      constexpr size_t kBuffer = size_t{4} << 20;
      constexpr int kBuffers = 40;
      std::vector<char*> buffers(kBuffers);
      rusage before{};
      for (int round = 0; round < 3; ++round) {
        if (round == 1) getrusage(RUSAGE_THREAD, &before);
        for (char*& b : buffers) {
          b = static_cast<char*>(std::malloc(kBuffer));
          for (size_t i = 0; i < kBuffer; i += 4096) b[i] = static_cast<char>(i);
        }
        for (char* b : buffers) std::free(b);
      }
      rusage after{};
      getrusage(RUSAGE_THREAD, &after);
      faults = after.ru_minflt - before.ru_minflt;
    }).join();
    const ssize_t n = write(fds[1], &faults, sizeof faults);
    _exit(n == sizeof faults ? 0 : 1);
  }
  close(fds[1]);
  long faults = -1;
  if (pid < 0 || read(fds[0], &faults, sizeof faults) != sizeof faults) faults = -1;
  close(fds[0]);
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  return faults;
}

TEST(TuneAllocator, DrainedFetchBuffersAreReusedWithoutPageFaults) {
  if (kSanitizerMalloc) GTEST_SKIP() << "the sanitizer's malloc replaces glibc's";
  // 2 x 160 MiB in 4 KiB pages is 81,920 faults if nothing is reused.
  const long untuned = RefaultsOfDrainedQueue(false);
  const long tuned = RefaultsOfDrainedQueue(true);
  ASSERT_GE(untuned, 0);
  ASSERT_GE(tuned, 0);
  // The trap itself, so the test shows it is still there to avoid: glibc unmaps a thread's
  // heaps as they empty, and faults them in again (if glibc stops doing so, this says so).
  RecordProperty("untuned_faults", std::to_string(untuned));
  RecordProperty("tuned_faults", std::to_string(tuned));
  EXPECT_GT(untuned, 10000) << "glibc's defaults no longer fault drained buffers in again";
  EXPECT_LT(tuned, 1000) << "untuned " << untuned;
}

}  // namespace
}  // namespace steppewatch::kafka

#include "steppewatch/common/clock.h"

#include <chrono>

namespace steppewatch {

int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace steppewatch

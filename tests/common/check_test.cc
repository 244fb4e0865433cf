// SW_CHECK (steppewatch/common/check.h), the one macro for invariants: it must abort with the
// file, line and condition in every build type. The release preset compiles with NDEBUG
// (RelWithDebInfo), where assert() would compile to nothing; these tests run there too.
#include "steppewatch/common/check.h"

#include <gtest/gtest.h>

namespace {

TEST(SwCheck, BrokenInvariantAbortsWithFileLineAndCondition) {
  int value = 1;
  EXPECT_DEATH(SW_CHECK(value == 2), "check_test\\.cc:[0-9]+: invariant broken: value == 2");
}

TEST(SwCheck, HoldingInvariantEvaluatesTheConditionOnceAndContinues) {
  int calls = 0;
  SW_CHECK(++calls == 1);
  EXPECT_EQ(calls, 1);
}

}  // namespace

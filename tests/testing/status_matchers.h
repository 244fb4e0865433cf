// gtest matchers for absl::Status and absl::StatusOr (abseil 20220623 ships none).
//   EXPECT_THAT(status, IsOk());
//   EXPECT_THAT(status_or, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 3")));
//   SW_ASSERT_OK_AND_ASSIGN(auto value, MakeValue());
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace steppewatch::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(s.message()), result_listener);
}

}  // namespace steppewatch::testing

#define SW_ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  SW_ASSERT_OK_AND_ASSIGN_IMPL_(SW_TESTING_CONCAT_(sw_test_statusor_, __LINE__), lhs, rexpr)
#define SW_TESTING_CONCAT_INNER_(a, b) a##b
#define SW_TESTING_CONCAT_(a, b) SW_TESTING_CONCAT_INNER_(a, b)
#define SW_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                  \
  ASSERT_TRUE(tmp.ok()) << tmp.status();               \
  lhs = std::move(tmp).value()

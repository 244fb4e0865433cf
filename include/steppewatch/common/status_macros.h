// Status propagation macros. Abseil 20220623 ships no ASSIGN_OR_RETURN: these are the project's
// one definition, for any stage whose functions pass a Status up (config, kafka, match and the
// Kafka CLI commands use them today).
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SW_STATUS_CONCAT_INNER_(a, b) a##b
#define SW_STATUS_CONCAT_(a, b) SW_STATUS_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the enclosing function when it is not OK.
#define SW_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status sw_status_ = (expr);      \
    if (!sw_status_.ok()) return sw_status_; \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status on error, else moves the value
// into `lhs` (which may be a declaration, e.g. `auto x`).
#define SW_ASSIGN_OR_RETURN(lhs, rexpr) \
  SW_ASSIGN_OR_RETURN_IMPL_(SW_STATUS_CONCAT_(sw_statusor_, __LINE__), lhs, rexpr)
#define SW_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                              \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

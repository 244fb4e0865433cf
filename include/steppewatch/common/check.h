// SW_CHECK: the one way to state an invariant. Unlike assert() it stays on in release builds:
// a broken invariant ("cannot happen") aborts loudly with the file, line and condition instead
// of corrupting state. Never use it for what input or the environment can cause; that returns
// an absl::Status.
#pragma once

#include <cstdio>
#include <cstdlib>

#define SW_CHECK(condition)                                                                  \
  do {                                                                                       \
    if (__builtin_expect(!(condition), 0)) {                                                 \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)

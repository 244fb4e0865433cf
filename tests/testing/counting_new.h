// A counting global operator new for one test binary: include this header in exactly one
// translation unit of the binary (it defines the replaceable allocation functions), then read
// steppewatch::testing::Allocations() around the code that must not allocate. Every form of
// operator new counts, the nothrow ones too (simdjson allocates its parser with
// new (std::nothrow) T[]; without them the runtime's own nothrow new would pair with the free()
// below, which ASan reports as a mismatch). malloc() itself is not counted: the hot paths'
// containers and strings allocate through operator new.
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

namespace steppewatch::testing {
inline std::atomic<long> g_allocations{0};
inline long Allocations() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace steppewatch::testing

// GCC's -Wmismatched-new-delete cannot see that this operator new is malloc-based.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  steppewatch::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  steppewatch::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

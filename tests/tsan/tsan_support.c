// ThreadSanitizer support, linked into every binary of a ThreadSanitizer build
// (STEPPEWATCH_SANITIZE=thread; see the top-level CMakeLists.txt) and into nothing else:
// librdkafka's threads and locks made visible to TSan, and TSan's default options.
//
// Why: Debian's librdkafka (2.0.2) creates its threads and takes its locks with glibc's C11
// functions (thrd_create, mtx_lock, cnd_wait, call_once). glibc implements them by calling its
// internal pthread functions directly, not through the symbols TSan intercepts, and the TSan
// runtime of GCC 12 (and of clang 14) has no interceptors of its own for them. So TSan never
// learns that librdkafka's threads exist: the first instrumented code on such a thread (our log
// and error callbacks, or a malloc/free through TSan's allocator) runs without a TSan thread
// state and crashes (SEGV in __tsan_func_entry). That was the "crash inside librdkafka threads"
// of the first TSan attempt. And librdkafka's mutexes were invisible, so every hand-off through
// them would look like a race.
//
// Definitions in the executable take precedence over libc's for librdkafka.so's references (the
// dynamic linker searches the executable first; an unversioned definition satisfies the
// versioned GLIBC_2.34 references). Each function calls the pthread equivalent, which TSan
// intercepts: librdkafka's threads are then registered with TSan and its mutexes and condition
// variables create happens-before edges like ours. glibc's mtx_t, cnd_t and once_flag have the
// layout of pthread_mutex_t, pthread_cond_t and pthread_once_t (checked below), thrd_t is
// pthread_t.
//
// The pthread_rwlock_* functions librdkafka calls directly are forwarded to TSan's interceptors
// from here for a second reason: tests/tsan/tsan.supp has TSan ignore interceptor calls made
// from inside librdkafka (called_from_lib), and for those TSan skips the whole interceptor,
// synchronisation included. Called from this file (part of the executable) init, lock and
// unlock count again. pthread_rwlock_destroy is deliberately not forwarded: it synchronises
// nothing, and librdkafka destroys a lock when an atomic reference count (invisible to TSan)
// reaches zero, which TSan reported as a race with the last rdlock. Every other caller of
// pthread_rwlock_* gets the same interceptor it would have got anyway.
//
// Only the functions librdkafka imports are defined (`nm -D librdkafka.so.1 | grep -E
// 'thrd_|mtx_|cnd_|call_once|pthread_rwlock'`), less pthread_rwlock_destroy; thrd_current
// stays glibc's (pthread_self).
// pthread_mutexattr_settype and pthread_rwlock_t are POSIX 2008, hidden by a strict -std=c11.
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) >= sizeof(pthread_mutex_t), "mtx_t must hold a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) >= sizeof(pthread_cond_t), "cnd_t must hold a pthread_cond_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t must be a pthread_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag must be a pthread_once_t");

static pthread_mutex_t* AsMutex(mtx_t* m) { return (pthread_mutex_t*)m; }
static pthread_cond_t* AsCond(cnd_t* c) { return (pthread_cond_t*)c; }

static int FromErrno(int err) {
  switch (err) {
    case 0:
      return thrd_success;
    case ENOMEM:
      return thrd_nomem;
    case ETIMEDOUT:
      return thrd_timedout;
    case EBUSY:
      return thrd_busy;
    default:
      return thrd_error;
  }
}

// A C11 thread function returns int, a pthread one void*: the int travels in the pointer.
struct StartArg {
  thrd_start_t func;
  void* arg;
};

static void* StartThread(void* p) {
  struct StartArg start = *(struct StartArg*)p;
  free(p);
  return (void*)(intptr_t)start.func(start.arg);
}

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  struct StartArg* start = malloc(sizeof(*start));
  if (start == NULL) return thrd_nomem;
  start->func = func;
  start->arg = arg;
  const int err = pthread_create(thr, NULL, StartThread, start);
  if (err != 0) free(start);
  return FromErrno(err);
}

int thrd_join(thrd_t thr, int* res) {
  void* ret = NULL;
  const int err = pthread_join(thr, &ret);
  if (err == 0 && res != NULL) *res = (int)(intptr_t)ret;
  return FromErrno(err);
}

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  const int err = pthread_mutex_init(AsMutex(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return FromErrno(err);
}

int mtx_lock(mtx_t* m) { return FromErrno(pthread_mutex_lock(AsMutex(m))); }
int mtx_unlock(mtx_t* m) { return FromErrno(pthread_mutex_unlock(AsMutex(m))); }
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(AsMutex(m)); }

int cnd_init(cnd_t* c) { return FromErrno(pthread_cond_init(AsCond(c), NULL)); }
int cnd_signal(cnd_t* c) { return FromErrno(pthread_cond_signal(AsCond(c))); }
int cnd_broadcast(cnd_t* c) { return FromErrno(pthread_cond_broadcast(AsCond(c))); }
int cnd_wait(cnd_t* c, mtx_t* m) { return FromErrno(pthread_cond_wait(AsCond(c), AsMutex(m))); }
// C11 timed waits take an absolute CLOCK_REALTIME time, as pthread_cond_timedwait does by default.
int cnd_timedwait(cnd_t* restrict c, mtx_t* restrict m, const struct timespec* restrict ts) {
  return FromErrno(pthread_cond_timedwait(AsCond(c), AsMutex(m), ts));
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy(AsCond(c)); }

void call_once(once_flag* flag, void (*func)(void)) { pthread_once((pthread_once_t*)flag, func); }

// TSan's interceptors (libtsan exports each one under this name as well as the plain one).
int __interceptor_pthread_rwlock_init(pthread_rwlock_t* l, const pthread_rwlockattr_t* a);
int __interceptor_pthread_rwlock_rdlock(pthread_rwlock_t* l);
int __interceptor_pthread_rwlock_wrlock(pthread_rwlock_t* l);
int __interceptor_pthread_rwlock_unlock(pthread_rwlock_t* l);

int pthread_rwlock_init(pthread_rwlock_t* restrict l, const pthread_rwlockattr_t* restrict a) {
  return __interceptor_pthread_rwlock_init(l, a);
}
int pthread_rwlock_rdlock(pthread_rwlock_t* l) { return __interceptor_pthread_rwlock_rdlock(l); }
int pthread_rwlock_wrlock(pthread_rwlock_t* l) { return __interceptor_pthread_rwlock_wrlock(l); }
int pthread_rwlock_unlock(pthread_rwlock_t* l) { return __interceptor_pthread_rwlock_unlock(l); }

// TSan reads its options from here before TSAN_OPTIONS (which still overrides any of them), so
// every test binary and every steppewatchd a Python suite starts gets them without a wrapper.
// suppressions: see that file. halt_on_error: the first report ends the process with exit code
// 66, so a daemon under an integration test dies visibly instead of reporting at exit, after the
// test has already passed. second_deadlock_stack: both stacks of a lock-order inversion.
const char* __tsan_default_options(void) {
  return "suppressions='" STEPPEWATCH_TSAN_SUPPRESSIONS "' halt_on_error=1 second_deadlock_stack=1";
}

// Compiled by the build.thread_safety_* tests (tests/cmake/tests.cmake), never linked: proves
// that clang's -Wthread-safety sees the annotations of steppewatch/common/mutex.h, so the `tsa`
// preset would reject an unguarded access. With SW_PROBE_UNGUARDED the file reads and writes a
// guarded field without its lock and must fail to compile; without it, every use is correct and
// it must compile.
#include "steppewatch/common/mutex.h"

namespace {

class Counter {
 public:
  void Add() {
    steppewatch::MutexLock lock(&mu_);
    ++value_;
    cv_.SignalAll();
  }
  int WaitPositive() {
    steppewatch::MutexLock lock(&mu_);
    while (value_ <= 0) cv_.Wait(&mu_);
    return value_;
  }
  int Read() const {
    steppewatch::ReaderMutexLock lock(&shared_mu_);
    return shared_value_;
  }
  void AddLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ++value_; }
#ifdef SW_PROBE_UNGUARDED
  int Unguarded() { return value_ + shared_value_; }  // reads without either lock
  void CallerWithoutLock() { AddLocked(); }           // calls without the required lock
  void WriteUnderReaderLock() {
    steppewatch::ReaderMutexLock lock(&shared_mu_);
    shared_value_ = 1;  // a write needs the lock exclusively
  }
#endif

 private:
  steppewatch::Mutex mu_;
  steppewatch::CondVar cv_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
  mutable steppewatch::SharedMutex shared_mu_;
  int shared_value_ ABSL_GUARDED_BY(shared_mu_) = 0;
};

}  // namespace

int ThreadSafetyProbe() {
  Counter c;
  c.Add();
  return c.WaitPositive() + c.Read();
}

#include "steppewatch/pipeline/turn_writer.h"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace steppewatch::pipeline {
namespace {

using std::chrono::steady_clock;

struct Result {
  int value = 0;
};

std::unique_ptr<Result> Make(int value) {
  auto r = std::make_unique<Result>();
  r->value = value;
  return r;
}

// Records what was written, from any thread (the writer calls write() one thread at a time, but
// the test reads the record from its own thread).
class Record {
 public:
  void Add(int value) {
    std::lock_guard<std::mutex> lock(mu_);
    values_.push_back(value);
  }
  std::vector<int> values() {
    std::lock_guard<std::mutex> lock(mu_);
    return values_;
  }

 private:
  std::mutex mu_;
  std::vector<int> values_;
};

TEST(TurnWriter, WritesInSequenceOrderWhenOrdered) {
  Record record;
  TurnWriter<Result> writer(true, [&](Result& r) { record.Add(r.value); });
  writer.Submit(2, Make(2));
  writer.Submit(1, Make(1));
  EXPECT_TRUE(record.values().empty());  // waiting for 0
  EXPECT_EQ(writer.written(), 0u);
  writer.Submit(0, Make(0));
  EXPECT_EQ(record.values(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(writer.written(), 3u);
}

TEST(TurnWriter, WritesAsHandedOverWhenNotOrdered) {
  Record record;
  TurnWriter<Result> writer(false, [&](Result& r) { record.Add(r.value); });
  writer.Submit(2, Make(2));
  EXPECT_EQ(record.values(), (std::vector<int>{2}));
  writer.Submit(0, Make(0));
  writer.Submit(1, Make(1));
  EXPECT_EQ(record.values(), (std::vector<int>{2, 0, 1}));
}

// The combining hand-off: a result handed over while another thread writes is written by that
// thread before its Submit() returns, and the second Submit() returns without writing.
TEST(TurnWriter, TheWritingThreadAlsoWritesWhatIsHandedOverMeanwhile) {
  Record record;
  std::promise<void> in_write;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<std::thread::id> wrote_one{};
  TurnWriter<Result> writer(true, [&](Result& r) {
    if (r.value == 0) {
      in_write.set_value();
      // Generous: only a broken hand-off makes this wait run out.
      ASSERT_EQ(released.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    }
    if (r.value == 1) wrote_one = std::this_thread::get_id();
    record.Add(r.value);
  });
  std::thread first([&] { writer.Submit(0, Make(0)); });
  ASSERT_EQ(in_write.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  writer.Submit(1, Make(1));  // the first thread is writing: returns at once
  EXPECT_TRUE(record.values().empty());
  const std::thread::id first_id = first.get_id();
  release.set_value();
  first.join();
  EXPECT_EQ(record.values(), (std::vector<int>{0, 1}));
  EXPECT_EQ(wrote_one.load(), first_id);
  EXPECT_EQ(writer.written(), 2u);
}

TEST(TurnWriter, WaitWrittenWaitsForEveryResultAfterClose) {
  TurnWriter<Result> writer(true, [](Result&) {});
  EXPECT_FALSE(writer.WaitWritten(steady_clock::now()));  // not closed
  writer.Submit(0, Make(0));
  writer.Close(2);
  EXPECT_FALSE(writer.WaitWritten(steady_clock::now()));  // 1 of 2
  writer.Close(2);                                        // again, from another worker
  writer.Submit(1, Make(1));
  EXPECT_TRUE(writer.WaitWritten(steady_clock::now()));

  TurnWriter<Result> empty(false, [](Result&) {});
  empty.Close(0);
  EXPECT_TRUE(empty.WaitWritten(steady_clock::now()));
}

TEST(TurnWriter, GivesWrittenResultsBackForReuse) {
  TurnWriter<Result> writer(true, [](Result& r) { r.value = -1; });
  EXPECT_EQ(writer.TakeSpare(), nullptr);
  writer.Submit(1, Make(1));
  EXPECT_EQ(writer.TakeSpare(), nullptr);  // not written yet
  writer.Submit(0, Make(0));
  for (int i = 0; i < 2; ++i) {
    std::unique_ptr<Result> r = writer.TakeSpare();
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->value, -1);  // what write() left
  }
  EXPECT_EQ(writer.TakeSpare(), nullptr);
}

// Several workers taking sequence numbers from a shared counter, as `steppewatch match` does:
// everything is written once, in order, whoever writes it (and under TSan, without a race).
TEST(TurnWriter, WorkersWriteEverythingInOrder) {
  constexpr int kWorkers = 4;
  constexpr int kResults = 2000;
  std::vector<int> written;  // only the writing thread touches it; read after the joins
  TurnWriter<Result> writer(true, [&](Result& r) { written.push_back(r.value); });
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (true) {
        std::unique_ptr<Result> r = writer.TakeSpare();
        if (r == nullptr) r = std::make_unique<Result>();
        const int seq = next++;
        if (seq >= kResults) {
          writer.Close(kResults);
          return;
        }
        r->value = seq;
        writer.Submit(seq, std::move(r));
      }
    });
  }
  EXPECT_TRUE(writer.WaitWritten(steady_clock::now() + std::chrono::seconds(60)));
  for (std::thread& t : workers) t.join();
  ASSERT_EQ(written.size(), static_cast<size_t>(kResults));
  for (int i = 0; i < kResults; ++i) ASSERT_EQ(written[i], i);
}

}  // namespace
}  // namespace steppewatch::pipeline

// RetryingProducer: an idempotent producer for any number of output topics whose messages are
// delivered or kept, never dropped: the alert and dead-letter output of the daemon, and the
// output of the stories stage.
//
// - Produce() never fails. A message librdkafka refuses at once (queue full on a non-blocking
//   call, a fatal error) or whose delivery fails after librdkafka's own retries
//   (message.timeout.ms) is copied and produced again with backoff (0.5 s doubling to 30 s),
//   forever, until DiscardRetries(). The listener hears of every outcome through the message's
//   opaque: OnDelivered once per acknowledged message (acks=all), OnDiscarded for a message given
//   up at shutdown.
// - A fatal error of the idempotent producer (RD_KAFKA_RESP_ERR__FATAL: a sequence
//   desynchronisation such as OUT_OF_ORDER_SEQUENCE_NUMBER, a fenced producer id) is recovered
//   in process: the failed client is purged and destroyed, a new one (a new producer id) is
//   created, and every message that was not acknowledged is produced again on it. Only when
//   that happens `max_fatal_errors` times within `fatal_window` (or a new client cannot be
//   created) does the producer give up: OnFailed(), and failed() turns true. Messages that were
//   on the wire when the error hit may be written twice (at-least-once; consumers de-duplicate
//   on the alert id).
//
// Threading: Produce() from any number of threads; the poll thread (Start) serves delivery
// reports, retries and recovery, and calls the listener. DiscardRetries/StopPolling/Flush from
// one controlling thread, in that order, at shutdown. A shared lock is taken per Produce() so
// that recovery can swap the client while no call is inside it; librdkafka locks per message
// anyway.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "steppewatch/common/mutex.h"
#include "steppewatch/kafka/client.h"

namespace steppewatch::kafka {

// Receives the outcome of every produced message. Called on the producer's poll thread (and on
// the controlling thread inside Flush/DiscardRetries); must not call back into Produce() with
// block = true.
class ProducerListener {
 public:
  virtual ~ProducerListener() = default;
  // `msg` was acknowledged; msg._private is the opaque given to Produce.
  virtual void OnDelivered(const rd_kafka_message_t& msg) = 0;
  // `msg` failed after librdkafka's retries; it is kept and produced again. For logs and counts.
  virtual void OnDeliveryFailed(const rd_kafka_message_t& msg) {}
  // A message of `opaque` was queued for another attempt (after a failure or a refusal).
  virtual void OnRetryScheduled(void* opaque) {}
  // A message of `opaque` is given up (after DiscardRetries): it will never be delivered.
  virtual void OnDiscarded(void* opaque) = 0;
  // librdkafka's statistics JSON of the client (statistics.interval.ms); valid during the call.
  virtual void OnStatistics(std::string_view json) {}
  // A non-fatal client error (librdkafka's error callback), e.g. all brokers down.
  virtual void OnClientError(rd_kafka_t* rk, rd_kafka_resp_err_t err, const char* reason) {}
  // A fatal error was recovered: a new client took over, `reproduced` messages were re-queued.
  virtual void OnRecovered(rd_kafka_resp_err_t cause, size_t reproduced) {}
  // Recovery gave up (see the file comment); nothing more will be delivered.
  virtual void OnFailed(const std::string& reason) = 0;
};

struct ProducerOptions {
  // Client properties over DefaultProperties(kProducer); enable.idempotence is forced on.
  PropertyMap properties;
  // Give up after this many fatal errors within `fatal_window`. 3 in 60 s: one desync is a
  // broker-side event worth surviving, three in a minute means a new client does not help and
  // a restart (and an operator) should take over.
  int max_fatal_errors = 3;
  absl::Duration fatal_window = absl::Seconds(60);
  absl::Duration first_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  std::string what = "kafka producer";
};

class RetryingProducer {
 public:
  // Creates the client; `listener` is not owned and must outlive the producer.
  static absl::StatusOr<std::unique_ptr<RetryingProducer>> Create(ProducerOptions options,
                                                                  ProducerListener* listener);
  ~RetryingProducer();  // stops polling; destroys the client without flushing
  RetryingProducer(const RetryingProducer&) = delete;
  RetryingProducer& operator=(const RetryingProducer&) = delete;

  // Starts the poll thread (delivery reports, retries, recovery).
  void Start();

  // Produces one message to `topic` (any partition, by key). `key.data() == nullptr` means no
  // key. `headers` is taken (may be null). `timestamp_ms` 0 = now. `opaque` comes back in the
  // listener's calls. `block`: wait for room in a full queue (worker threads); the poll thread
  // and callbacks must pass false.
  void Produce(std::string_view topic, std::string_view key, std::string_view value,
               rd_kafka_headers_t* headers, int64_t timestamp_ms, void* opaque, bool block);

  // Shutdown, step 1: every retry, queued or later, is given up (OnDiscarded).
  void DiscardRetries();
  // Step 2: stops the poll thread.
  void StopPolling();
  // Step 3, on the controlling thread: waits up to `timeout` for the deliveries, then purges
  // what is left (their reports arrive as failures and are discarded). Returns whether
  // everything was delivered.
  bool Flush(absl::Duration timeout);

  // The producer's message.max.bytes: a message larger than this can never be produced.
  size_t max_message_bytes() const { return max_message_bytes_; }
  // True once recovery gave up.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // Fatal errors recovered so far.
  int recoveries() const { return recoveries_.load(std::memory_order_relaxed); }
  // Messages waiting for another attempt.
  size_t retries_pending() const;

  // Tests only: raises a fatal error `err` on the current client, as librdkafka would
  // (rd_kafka_test_fatal_error).
  absl::Status InjectFatalErrorForTesting(rd_kafka_resp_err_t err);
  // Tests only: a property of the current client (GetProperty).
  std::optional<std::string> PropertyForTesting(std::string_view name) const;

 private:
  struct Retry;

  RetryingProducer(ProducerOptions options, ProducerListener* listener);
  absl::Status NewGeneration() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // creates client_
  rd_kafka_topic_t* TopicLocked(std::string_view topic) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Produces the due retries that the discard did not take; the rest go back to retries_.
  void ProduceRetriesLocked(std::vector<Retry>* due) ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // client_ for the poll thread, and for the controlling thread once StopPolling() returned.
  // Only the poll thread replaces client_ (Recover(), holding mu_ exclusively), so it reads
  // client_ without the lock, and so does the controlling thread after the poll thread ended;
  // every other thread reads client_ holding mu_ (Produce).
  rd_kafka_t* OwnClient() const ABSL_NO_THREAD_SAFETY_ANALYSIS { return client_.get(); }
  void PollLoop();
  void OnDelivery(const rd_kafka_message_t* msg);
  void OnError(rd_kafka_t* rk, int err, const char* reason);
  void ScheduleRetry(Retry retry);
  void RunDueRetries(bool all);
  void Recover();
  void DrainClient(absl::Duration timeout);
  absl::Duration Backoff(int attempts) const;

  static void DeliveryCb(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque);
  static void ErrorCb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static int StatsCb(rd_kafka_t*, char* json, size_t len, void* opaque);
  void Fail(std::string reason);

  const ProducerOptions options_;
  ProducerListener* const listener_;
  size_t max_message_bytes_ = 1000000;

  // The client and its topic handles. Produce() holds it shared; recovery and new topics hold
  // it exclusively.
  mutable SharedMutex mu_;
  ClientHandle client_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, rd_kafka_topic_t*> topics_ ABSL_GUARDED_BY(mu_);  // owned

  std::thread poll_thread_;
  std::atomic<bool> stop_polling_{false};
  std::atomic<bool> discard_{false};
  std::atomic<bool> fatal_seen_{false};  // set by the error callback, handled by the poll loop
  std::atomic<bool> failed_{false};
  std::atomic<int> recoveries_{0};
  std::deque<absl::Time> fatal_times_;  // poll thread only

  mutable Mutex retry_mu_;
  std::vector<Retry> retries_ ABSL_GUARDED_BY(retry_mu_);
};

}  // namespace steppewatch::kafka

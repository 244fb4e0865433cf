// RetryingProducer (see producer.h): produce, delivery reports, retries with backoff, and the
// in-process recovery from fatal idempotent-producer errors.
#include "steppewatch/kafka/producer.h"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>

#include "steppewatch/common/log.h"

namespace steppewatch::kafka {
namespace {
constexpr char kLog[] = "kafka";
}  // namespace

// A message whose delivery failed (or whose produce call was refused), kept for another attempt.
struct RetryingProducer::Retry {
  std::string topic;
  std::string key;
  bool has_key = false;
  std::string value;
  rd_kafka_headers_t* headers = nullptr;  // owned
  int64_t timestamp_ms = 0;
  void* opaque = nullptr;
  int attempts = 0;
  absl::Time due;
};

RetryingProducer::RetryingProducer(ProducerOptions options, ProducerListener* listener)
    : options_(std::move(options)), listener_(listener) {}

absl::StatusOr<std::unique_ptr<RetryingProducer>> RetryingProducer::Create(
    ProducerOptions options, ProducerListener* listener) {
  if (listener == nullptr) return absl::InvalidArgumentError("producer: a listener is required");
  std::unique_ptr<RetryingProducer> p(new RetryingProducer(std::move(options), listener));
  {
    WriterMutexLock lock(&p->mu_);
    absl::Status st = p->NewGeneration();
    if (!st.ok()) return st;
    if (auto v = GetProperty(p->client_.get(), "message.max.bytes"); v.has_value()) {
      p->max_message_bytes_ = std::strtoull(v->c_str(), nullptr, 10);
    }
  }
  return p;
}

RetryingProducer::~RetryingProducer() {
  StopPolling();
  WriterMutexLock lock(&mu_);
  for (auto& [name, rkt] : topics_) rd_kafka_topic_destroy(rkt);
  topics_.clear();
  client_.reset();
  MutexLock retry_lock(&retry_mu_);
  for (Retry& r : retries_) {
    if (r.headers != nullptr) rd_kafka_headers_destroy(r.headers);
  }
}

absl::Status RetryingProducer::NewGeneration() {
  ClientSpec spec;
  spec.type = RD_KAFKA_PRODUCER;
  spec.defaults = ClientRole::kProducer;
  spec.properties = options_.properties;
  // No duplicates from librdkafka's own retries, per-partition order, acks=all.
  spec.forced = {{"enable.idempotence", "true"}};
  spec.callbacks.opaque = this;
  spec.callbacks.delivery = &DeliveryCb;
  spec.callbacks.error = &ErrorCb;
  spec.callbacks.statistics = &StatsCb;
  spec.what = options_.what;
  absl::StatusOr<ClientHandle> client = NewClient(spec);
  if (!client.ok()) return client.status();
  client_ = *std::move(client);
  return absl::OkStatus();
}

void RetryingProducer::Start() {
  poll_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "sw-producer");  // for top -H and perf
    PollLoop();
  });
}

rd_kafka_topic_t* RetryingProducer::TopicLocked(std::string_view topic) {
  auto it = topics_.find(absl::string_view(topic.data(), topic.size()));
  if (it != topics_.end()) return it->second;
  const std::string name(topic);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(client_.get(), name.c_str(), nullptr);
  topics_.emplace(name, rkt);
  return rkt;
}

void RetryingProducer::Produce(std::string_view topic, std::string_view key, std::string_view value,
                               rd_kafka_headers_t* headers, int64_t timestamp_ms, void* opaque,
                               bool block) {
  // Workers may block on a full queue (the poll thread drains it); the poll thread, which
  // re-produces retries, must never block on itself.
  const int flags = RD_KAFKA_MSG_F_COPY | (block ? RD_KAFKA_MSG_F_BLOCK : 0);
  rd_kafka_resp_err_t err;
  mu_.ReaderLock();
  auto it = topics_.find(absl::string_view(topic.data(), topic.size()));
  rd_kafka_topic_t* rkt = it == topics_.end() ? nullptr : it->second;
  if (rkt == nullptr) {
    // A topic seen for the first time (a handful per pack): take the lock exclusively once.
    mu_.ReaderUnlock();
    {
      WriterMutexLock write(&mu_);
      (void)TopicLocked(topic);
    }
    mu_.ReaderLock();
    rkt = topics_.find(absl::string_view(topic.data(), topic.size()))->second;
  }
  err = rd_kafka_producev(client_.get(), RD_KAFKA_V_RKT(rkt),
                          RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                          RD_KAFKA_V_KEY(key.data(), key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                          RD_KAFKA_V_MSGFLAGS(flags), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
                          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
  mu_.ReaderUnlock();
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // librdkafka owns the headers now
  // Refused at once (queue full on the poll thread, message too large, fatal...): keep it for
  // another attempt, so its owner stays unfinished.
  SW_LOG_EVERY(kWarning, kLog, 10000, "produce to ", topic, " failed: ", rd_kafka_err2str(err),
               "; will retry");
  Retry retry;
  retry.topic = std::string(topic);
  retry.has_key = key.data() != nullptr;
  retry.key = std::string(key);
  retry.value = std::string(value);
  retry.headers = headers;
  retry.timestamp_ms = timestamp_ms;
  retry.opaque = opaque;
  retry.attempts = 1;
  ScheduleRetry(std::move(retry));
}

absl::Duration RetryingProducer::Backoff(int attempts) const {
  absl::Duration d = options_.first_backoff;
  for (int i = 1; i < attempts && d < options_.max_backoff; ++i) d *= 2;
  return std::min(d, options_.max_backoff);
}

void RetryingProducer::ScheduleRetry(Retry retry) {
  if (discard_.load(std::memory_order_acquire)) {
    if (retry.headers != nullptr) rd_kafka_headers_destroy(retry.headers);
    listener_->OnDiscarded(retry.opaque);
    return;
  }
  retry.due = absl::Now() + Backoff(retry.attempts);
  listener_->OnRetryScheduled(retry.opaque);
  MutexLock lock(&retry_mu_);
  retries_.push_back(std::move(retry));
}

size_t RetryingProducer::retries_pending() const {
  MutexLock lock(&retry_mu_);
  return retries_.size();
}

void RetryingProducer::RunDueRetries(bool all) {
  std::vector<Retry> due;
  {
    MutexLock lock(&retry_mu_);
    if (retries_.empty()) return;
    const absl::Time now = all ? absl::InfiniteFuture() : absl::Now();
    auto split = std::partition(retries_.begin(), retries_.end(),
                                [&](const Retry& r) { return r.due > now; });
    due.assign(std::make_move_iterator(split), std::make_move_iterator(retries_.end()));
    retries_.erase(split, retries_.end());
  }
  // The poll thread must never wait for mu_: a worker blocked in Produce() (shared, waiting
  // for queue room that only this thread's polling frees) and another waiting to add a topic
  // (exclusive) would then wait on each other through it. So the lock is only tried; what
  // cannot be produced now waits for the next round (100 ms).
  if (mu_.ReaderTryLock()) {
    ProduceRetriesLocked(&due);
    mu_.ReaderUnlock();
    return;
  }
  std::vector<Retry> later;
  for (Retry& r : due) {
    if (discard_.load(std::memory_order_acquire)) {
      if (r.headers != nullptr) rd_kafka_headers_destroy(r.headers);
      listener_->OnDiscarded(r.opaque);
      continue;
    }
    later.push_back(std::move(r));
  }
  if (!later.empty()) {
    MutexLock retry_lock(&retry_mu_);
    for (Retry& r : later) retries_.push_back(std::move(r));  // still due
  }
}

void RetryingProducer::ProduceRetriesLocked(std::vector<Retry>* due) {
  for (Retry& r : *due) {
    if (discard_.load(std::memory_order_acquire)) {
      if (r.headers != nullptr) rd_kafka_headers_destroy(r.headers);
      listener_->OnDiscarded(r.opaque);
      continue;
    }
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        client_.get(), RD_KAFKA_V_TOPIC(r.topic.c_str()),
        RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_KEY(r.has_key ? r.key.data() : nullptr, r.key.size()),
        RD_KAFKA_V_VALUE(r.value.data(), r.value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_TIMESTAMP(r.timestamp_ms), RD_KAFKA_V_HEADERS(r.headers),
        RD_KAFKA_V_OPAQUE(r.opaque), RD_KAFKA_V_END);
    // Produced: the owner's reference moves to the new message; its delivery report decides.
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    r.attempts++;
    ScheduleRetry(std::move(r));
  }
}

void RetryingProducer::DeliveryCb(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  static_cast<RetryingProducer*>(opaque)->OnDelivery(msg);
}

void RetryingProducer::ErrorCb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  static_cast<RetryingProducer*>(opaque)->OnError(rk, err, reason);
}

int RetryingProducer::StatsCb(rd_kafka_t*, char* json, size_t len, void* opaque) {
  static_cast<RetryingProducer*>(opaque)->listener_->OnStatistics(std::string_view(json, len));
  return 0;  // librdkafka frees the buffer
}

void RetryingProducer::OnDelivery(const rd_kafka_message_t* msg) {
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    listener_->OnDelivered(*msg);
    return;
  }
  // Failed after librdkafka's retries (or purged by a fatal error): produce it again.
  listener_->OnDeliveryFailed(*msg);
  Retry retry;
  retry.topic = rd_kafka_topic_name(msg->rkt);
  retry.has_key = msg->key != nullptr;
  if (msg->key != nullptr) retry.key.assign(static_cast<const char*>(msg->key), msg->key_len);
  if (msg->payload != nullptr) {
    retry.value.assign(static_cast<const char*>(msg->payload), msg->len);
  }
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    retry.headers = rd_kafka_headers_copy(headers);
  }
  // The timestamp the message was produced with (the original item's for a dead letter, the
  // first attempt's for an alert).
  rd_kafka_timestamp_type_t type;
  const int64_t ts = rd_kafka_message_timestamp(msg, &type);
  retry.timestamp_ms = ts > 0 ? ts : 0;
  retry.opaque = msg->_private;  // keeps this delivery's reference
  retry.attempts = 1;
  ScheduleRetry(std::move(retry));
}

void RetryingProducer::OnError(rd_kafka_t* rk, int err, const char* reason) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    fatal_seen_.store(true, std::memory_order_release);  // the poll loop recovers
    return;
  }
  listener_->OnClientError(rk, code, reason);
}

void RetryingProducer::PollLoop() {
  // 100 ms bounds the delay of a retry, of a recovery and of noticing the stop request.
  while (!stop_polling_.load(std::memory_order_acquire)) {
    rd_kafka_poll(OwnClient(), 100);
    if (fatal_seen_.load(std::memory_order_acquire) && !failed()) Recover();
    RunDueRetries(/*all=*/false);
  }
}

void RetryingProducer::DrainClient(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (rd_kafka_outq_len(OwnClient()) > 0 && absl::Now() < deadline) {
    rd_kafka_poll(OwnClient(), 50);
  }
}

void RetryingProducer::Fail(std::string reason) {
  SW_LOG(kError, kLog, options_.what, ": ", reason);
  listener_->OnFailed(reason);
  failed_.store(true, std::memory_order_release);  // after the listener: failed() means told
}

void RetryingProducer::Recover() {
  char buf[512] = "";
  const rd_kafka_resp_err_t cause = rd_kafka_fatal_error(OwnClient(), buf, sizeof(buf));
  const absl::Time now = absl::Now();
  fatal_times_.push_back(now);
  while (!fatal_times_.empty() && now - fatal_times_.front() > options_.fatal_window) {
    fatal_times_.pop_front();
  }
  if (static_cast<int>(fatal_times_.size()) >= options_.max_fatal_errors) {
    Fail(log::Cat("fatal error ", rd_kafka_err2name(cause), " (", buf, "): ", fatal_times_.size(),
                  " fatal errors within ", absl::FormatDuration(options_.fatal_window),
                  ", giving up (unacknowledged messages stay unstored)"));
    return;
  }
  SW_LOG(kError, kLog, options_.what, ": fatal error ", rd_kafka_err2name(cause), ": ", buf,
         "; replacing the producer and re-producing every unacknowledged message");
  // librdkafka purged the queued messages when it raised the error; the ones on the wire get
  // their reports now. Each failed report becomes a retry (a copy), so nothing is lost.
  // 10 s: longer than a produce request's round trip, shorter than any stop budget.
  DrainClient(absl::Seconds(10));
  absl::Status st;
  {
    // No Produce() is inside the client from here on: late messages that a blocked worker
    // queued after the error are purged and reported too, then the client goes.
    WriterMutexLock lock(&mu_);
    rd_kafka_purge(client_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    DrainClient(absl::Seconds(5));
    for (auto& [name, rkt] : topics_) rd_kafka_topic_destroy(rkt);
    topics_.clear();
    client_.reset();
    fatal_seen_.store(false, std::memory_order_release);
    st = NewGeneration();
  }
  if (!st.ok()) {
    Fail(log::Cat("cannot create a new producer after a fatal error: ", st.message()));
    return;
  }
  recoveries_.fetch_add(1, std::memory_order_relaxed);
  const size_t reproduced = retries_pending();
  RunDueRetries(/*all=*/true);
  SW_LOG(kWarning, kLog, options_.what, ": recovered from ", rd_kafka_err2name(cause),
         " with a new producer; ", reproduced, " unacknowledged message(s) produced again");
  listener_->OnRecovered(cause, reproduced);
}

void RetryingProducer::DiscardRetries() {
  discard_.store(true, std::memory_order_release);
  {
    MutexLock lock(&retry_mu_);
    for (Retry& r : retries_) r.due = absl::InfinitePast();
  }
  RunDueRetries(/*all=*/true);  // discarded
}

void RetryingProducer::StopPolling() {
  stop_polling_.store(true, std::memory_order_release);
  if (poll_thread_.joinable()) poll_thread_.join();
}

bool RetryingProducer::Flush(absl::Duration timeout) {
  rd_kafka_resp_err_t err =
      rd_kafka_flush(OwnClient(), static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  bool complete = err == RD_KAFKA_RESP_ERR_NO_ERROR;
  if (!complete) {
    // Undelivered messages are purged: their failed reports release their owners, which are
    // never stored. Purged messages report within a poll; 5 s covers a request on the wire.
    rd_kafka_purge(OwnClient(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(OwnClient(), 5000);
  }
  RunDueRetries(/*all=*/true);  // after DiscardRetries: discarded
  return complete && retries_pending() == 0;
}

absl::Status RetryingProducer::InjectFatalErrorForTesting(rd_kafka_resp_err_t err) {
  ReaderMutexLock lock(&mu_);
  const rd_kafka_resp_err_t r = rd_kafka_test_fatal_error(client_.get(), err, "injected by a test");
  if (r != RD_KAFKA_RESP_ERR_NO_ERROR) return absl::InternalError(rd_kafka_err2str(r));
  return absl::OkStatus();
}

std::optional<std::string> RetryingProducer::PropertyForTesting(std::string_view name) const {
  ReaderMutexLock lock(&mu_);
  return GetProperty(client_.get(), name);
}

}  // namespace steppewatch::kafka

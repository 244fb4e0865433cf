// Consumer (see consumer.h): creation, the rebalance protocol, replay, pause state, fatal errors.
#include "steppewatch/kafka/consumer.h"

#include <time.h>

#include <algorithm>
#include <cstring>

#include "steppewatch/common/log.h"
#include "steppewatch/kafka/consumer_lag.h"
#include "steppewatch/kafka/log_route.h"

namespace steppewatch::kafka {
namespace {
constexpr char kLog[] = "kafka";

// CLOCK_MONOTONIC in microseconds: librdkafka's rd_clock(), which stamps the statistics ("ts").
int64_t MonotonicMicros() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}
}  // namespace

Consumer::Consumer(ConsumerOptions options, ConsumerListener* listener)
    : options_(std::move(options)), listener_(listener) {}

Consumer::~Consumer() {
  queue_.reset();
  client_.reset();
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(ConsumerOptions options,
                                                           ConsumerListener* listener) {
  if (listener == nullptr) return absl::InvalidArgumentError("consumer: a listener is required");
  if (options.group_id.empty()) return absl::InvalidArgumentError("consumer: no group id");
  std::unique_ptr<Consumer> c(new Consumer(std::move(options), listener));
  const ConsumerOptions& o = c->options_;
  ClientSpec spec;
  spec.type = RD_KAFKA_CONSUMER;
  spec.defaults = o.defaults;
  spec.properties = o.properties;
  spec.forced["group.id"] = o.group_id;
  if (!o.client_id.empty()) spec.forced["client.id"] = o.client_id;
  if (!o.instance_id.empty()) spec.forced["group.instance.id"] = o.instance_id;
  if (o.manual_offset_store) {
    // The guarantee: offsets are stored by the caller, only for finished records; librdkafka
    // commits what was stored (periodically, on revoke and on close).
    spec.forced["enable.auto.offset.store"] = "false";
    spec.forced["enable.auto.commit"] = "true";
  }
  // SetPaused() learns that a partition assigned while paused has started from the statistics
  // (it has no record to show): they must run.
  {
    constexpr char kStats[] = "statistics.interval.ms";
    std::string interval = "0";  // librdkafka's default: none
    if (auto it = spec.properties.find(kStats); it != spec.properties.end()) {
      interval = it->second;
    } else if (o.defaults.has_value()) {
      const PropertyMap& d = DefaultProperties(*o.defaults);
      if (auto dt = d.find(kStats); dt != d.end()) interval = dt->second;
    }
    if (interval == "0") spec.properties[kStats] = "5000";
  }
  spec.callbacks.opaque = c.get();
  spec.callbacks.rebalance = &RebalanceCb;
  spec.callbacks.statistics = &StatsCb;
  spec.callbacks.error = &ErrorCb;
  if (o.library_log_hook_for_testing) spec.callbacks.log = &LogCb;
  spec.what = o.what;
  absl::StatusOr<ClientHandle> client = NewClient(spec);
  if (!client.ok()) return client.status();
  c->client_ = *std::move(client);
  c->queue_ = QueueHandle(rd_kafka_queue_get_consumer(c->client_.get()));
  return c;
}

absl::Status Consumer::Subscribe() {
  if (options_.topics.empty()) return absl::InvalidArgumentError("consumer: no topics");
  PartitionListHandle topics = NewPartitionList(static_cast<int>(options_.topics.size()));
  for (const std::string& t : options_.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(client_.get(), topics.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(log::Cat(options_.what, ": subscribe: ", rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

rd_kafka_message_t* Consumer::Poll(int timeout_ms) {
  rd_kafka_message_t* msg = rd_kafka_consumer_poll(client_.get(), timeout_ms);
  if (msg != nullptr && msg->err == RD_KAFKA_RESP_ERR__FATAL) {
    // A consumer-group member's fatal error comes as a consume error (static membership:
    // another live member with the same group.instance.id). rd_kafka_fatal_error has the cause.
    char buf[512] = "";
    const rd_kafka_resp_err_t original = rd_kafka_fatal_error(client_.get(), buf, sizeof(buf));
    rd_kafka_message_destroy(msg);
    listener_->OnFatal(original, buf);
    return nullptr;
  }
  // A record was fetched, so its partition's fetch start has run. One branch per record but for
  // the moments after an assignment.
  if (!unstarted_.empty() && msg != nullptr && msg->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
      msg->rkt != nullptr) {
    MarkStarted(rd_kafka_topic_name(msg->rkt), msg->partition);
  }
  return msg;
}

void Consumer::Wake() {
  // Under the lock so that no yield can start once Close() has begun (see Close()).
  MutexLock lock(&wake_mu_);
  if (!closing_) rd_kafka_queue_yield(queue_.get());
}

rd_kafka_resp_err_t Consumer::StoreOffsets(rd_kafka_topic_partition_list_t* offsets) {
  return rd_kafka_offsets_store(client_.get(), offsets);
}

rd_kafka_resp_err_t Consumer::CommitSync(const rd_kafka_topic_partition_list_t* offsets) {
  return rd_kafka_commit(client_.get(), offsets, /*async=*/0);
}

void Consumer::SetPaused(bool paused) {
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(client_.get(), &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    PartitionListHandle owned(assignment);
    if (!unstarted_.empty()) {
      // Not the partitions librdkafka may still be starting: MarkStarted() gives them the state.
      PartitionListHandle started = NewPartitionList(assignment->cnt);
      for (int i = 0; i < assignment->cnt; ++i) {
        const auto& tp = assignment->elems[i];
        if (!IsUnstarted(tp.topic, tp.partition)) {
          rd_kafka_topic_partition_list_add(started.get(), tp.topic, tp.partition);
        }
      }
      owned = std::move(started);
      assignment = owned.get();
    }
    if (assignment->cnt > 0) {
      if (paused) {
        rd_kafka_pause_partitions(client_.get(), assignment);
        pause_flags_ = true;
      } else {
        // pause_flags_ stays set: should this resume lose a race with librdkafka (see
        // OnRebalance), the revoke still clears the flag, so it cannot outlive the assignment.
        rd_kafka_resume_partitions(client_.get(), assignment);
      }
    }
  }
  paused_ = paused;
}

void Consumer::ClearPauseFlags(const rd_kafka_topic_partition_list_t* partitions) {
  if (!pause_flags_ || partitions == nullptr || partitions->cnt == 0) return;
  // A copy: the call records each partition's object and error in the list it is given.
  PartitionListHandle resume(rd_kafka_topic_partition_list_copy(partitions));
  rd_kafka_resume_partitions(client_.get(), resume.get());
}

bool Consumer::IsUnstarted(std::string_view topic, int32_t partition) const {
  return std::any_of(unstarted_.begin(), unstarted_.end(), [&](const Unstarted& u) {
    return u.partition == partition && u.topic == topic;
  });
}

void Consumer::MarkStarted(std::string_view topic, int32_t partition) {
  auto it = std::find_if(unstarted_.begin(), unstarted_.end(), [&](const Unstarted& u) {
    return u.partition == partition && u.topic == topic;
  });
  if (it == unstarted_.end()) return;
  if (it->paused != paused_ || it->reassert) {
    // librdkafka's main thread has queued the start (its own resume, then the fetch start)
    // before the fetch start ran, so nothing of its own races this any more.
    PartitionListHandle one = NewPartitionList(1);
    rd_kafka_topic_partition_list_add(one.get(), it->topic.c_str(), it->partition);
    if (paused_) {
      rd_kafka_pause_partitions(client_.get(), one.get());
      pause_flags_ = true;
    } else {
      rd_kafka_resume_partitions(client_.get(), one.get());
    }
  }
  if (it->warned || it->restarts > 0) {
    SW_LOG(kInfo, kLog, options_.what, ": ", it->topic, "[", it->partition,
           "]: fetcher started after ", absl::FormatDuration(absl::Now() - it->since),
           it->restarts > 0 ? log::Cat(" (fetch restart ", it->restarts, ")") : std::string());
  }
  unstarted_.erase(it);
  ReportUnstarted();
}

void Consumer::ReportUnstarted() {
  if (options_.unstarted_partitions != nullptr) {
    options_.unstarted_partitions->Set(static_cast<int64_t>(unstarted_.size()));
  }
}

void Consumer::CheckStarts(std::string_view json) {
  StatisticsGroupState group;
  absl::StatusOr<std::vector<PartitionFetchState>> states = ParseFetchStates(
      json,
      [this](std::string_view topic, int32_t partition) { return IsUnstarted(topic, partition); },
      &group);
  if (!states.ok()) return;  // the pipeline's own parse of the same JSON logs it
  const absl::Time now = absl::Now();
  // librdkafka 2.0.2 (rdkafka_partition.h, rdkafka_assignment.c): a partition's fetch_state is
  // "none" or "stopped" until its fetch start has run; the assignment starts it once the
  // committed offset is known, and never again. "stopping" waits for the previous fetcher's
  // stop, "offset-query" and "offset-wait" (started) for the leader or a ListOffsets answer:
  // those progress by themselves. So "none" or "stopped" long after the assignment, with the
  // coordinator known ("up") and no rebalance under way ("steady"), is a fetch start that was
  // dropped (or an OffsetFetch that never got an answer, which a restart asks again).
  const bool group_settled = group.state == "up" && group.join_state == "steady";
  std::vector<std::pair<std::string, int32_t>> stalled;
  for (const PartitionFetchState& state : *states) {
    auto it = std::find_if(unstarted_.begin(), unstarted_.end(), [&](const Unstarted& u) {
      return u.partition == state.partition && u.topic == state.topic;
    });
    if (it == unstarted_.end()) continue;
    if (state.started) {
      // After a restart, only a document written once the old fetcher's stop had run tells
      // about the new fetcher (see RestartFetchers()).
      if (it->not_before_us == 0 || group.ts_us > it->not_before_us) {
        MarkStarted(state.topic, state.partition);
      }
      continue;
    }
    if (now - it->since < options_.start_deadline) continue;
    const bool idle = state.fetch_state == "none" || state.fetch_state == "stopped";
    if (idle && group_settled && it->restarts < options_.start_restart_attempts) {
      stalled.emplace_back(it->topic, it->partition);
      continue;
    }
    if (it->warned) continue;
    it->warned = true;
    if (idle && group_settled) {
      SW_LOG(kError, kLog, options_.what, ": ", it->topic, "[", it->partition, "] not fetched ",
             absl::FormatDuration(now - it->since), " after its last of ", it->restarts,
             " fetch restart(s) (fetch_state ", state.fetch_state,
             "): left to the next rebalance or a restart of the daemon");
    } else {
      SW_LOG(kWarning, kLog, options_.what, ": ", it->topic, "[", it->partition, "] assigned ",
             absl::FormatDuration(now - it->since), " ago and not fetched yet (fetch_state ",
             state.fetch_state, ", group ", group.state, "/", group.join_state,
             "): waiting for the group coordinator, the leader or its committed offset");
    }
  }
  if (!stalled.empty()) RestartFetchers(stalled);
}

bool Consumer::RestartFetchers(const std::vector<std::pair<std::string, int32_t>>& stalled) {
  // A lost assignment is revoked next (the revoke callback is queued): nothing to restart, and
  // an assign() now would clear librdkafka's "lost" flag that the revoke reads.
  if (rd_kafka_assignment_lost(client_.get()) != 0) return false;
  const char* protocol = rd_kafka_rebalance_protocol(client_.get());
  const bool cooperative = protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
  rd_kafka_topic_partition_list_t* current = nullptr;
  if (rd_kafka_assignment(client_.get(), &current) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  PartitionListHandle assignment(current);
  // Eager: assign() replaces the whole assignment (incremental calls are refused), so every
  // partition restarts. Cooperative: only the stalled ones leave and come back.
  PartitionListHandle restart;
  if (cooperative) {
    restart = NewPartitionList(static_cast<int>(stalled.size()));
    for (const auto& [topic, partition] : stalled) {
      if (rd_kafka_topic_partition_list_find(assignment.get(), topic.c_str(), partition)) {
        rd_kafka_topic_partition_list_add(restart.get(), topic.c_str(), partition);
      }
    }
  } else {
    restart = PartitionListHandle(rd_kafka_topic_partition_list_copy(assignment.get()));
  }
  if (restart->cnt == 0) return false;
  // Where each one goes on: the position (the last record handed to the application + 1), or,
  // before any record, where it was assigned to start (the committed offset, or a replay's).
  rd_kafka_position(client_.get(), restart.get());
  for (int i = 0; i < restart->cnt; ++i) {
    rd_kafka_topic_partition_t& tp = restart->elems[i];
    tp.err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (tp.offset >= 0) continue;
    tp.offset = RD_KAFKA_OFFSET_INVALID;
    for (const auto& [key, offset] : start_offsets_) {
      if (key.second == tp.partition && key.first == tp.topic) tp.offset = offset;
    }
  }
  for (const std::pair<std::string, int32_t>& tp : stalled) {
    const std::string& topic = tp.first;
    const int32_t partition = tp.second;
    const auto it = std::find_if(unstarted_.begin(), unstarted_.end(), [&](const Unstarted& u) {
      return u.partition == partition && u.topic == topic;
    });
    SW_LOG(kWarning, kLog, options_.what, ": ", topic, "[", partition, "] assigned ",
           absl::FormatDuration(absl::Now() - it->since),
           " ago and not fetched (librdkafka lost its fetch start): restarting its fetcher, "
           "attempt ",
           it->restarts + 1, " of ", options_.start_restart_attempts, ", ",
           cooperative ? "unassigning and assigning it again"
                       : log::Cat("assigning the ", restart->cnt,
                                  " partition(s) of the assignment again at their positions"));
  }
  // Nothing of ours races this: librdkafka's main thread runs the assign (clear, then add) and
  // every partition's operations, and starts each fetcher again once the old one's stop has
  // run; SetPaused() and MarkStarted() leave the partitions alone until they are seen started
  // (below). A partition that had started is stopped (its records fetched before are dropped:
  // the stop takes a new version) and goes on at its position, so no record is lost or
  // handed over twice; the stored offsets of the removed partitions are committed first.
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(client_.get(), restart.get())) {
      SW_LOG(kError, kLog, options_.what,
             ": fetch restart: incremental_unassign: ", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      return false;
    }
    if (rd_kafka_error_t* e = rd_kafka_incremental_assign(client_.get(), restart.get())) {
      SW_LOG(kError, kLog, options_.what,
             ": fetch restart: incremental_assign: ", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
  } else if (rd_kafka_resp_err_t e = rd_kafka_assign(client_.get(), restart.get())) {
    SW_LOG(kError, kLog, options_.what, ": fetch restart: assign: ", rd_kafka_err2str(e));
    return false;
  }
  // The assign's handler queued the stops on librdkafka's main queue (rk_ops: the group's and
  // the partitions' operations go through it in order); this second request is served after
  // them. Statistics are written on that thread too, so one stamped after this point shows a
  // restarted partition stopped, or its new fetcher: never the old one.
  rd_kafka_topic_partition_list_t* after = nullptr;
  if (rd_kafka_assignment(client_.get(), &after) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    PartitionListHandle owned(after);
  }
  const int64_t not_before_us = MonotonicMicros();
  const absl::Time now = absl::Now();
  for (int i = 0; i < restart->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = restart->elems[i];
    auto it = std::find_if(unstarted_.begin(), unstarted_.end(), [&](const Unstarted& u) {
      return u.partition == tp.partition && u.topic == tp.topic;
    });
    if (it == unstarted_.end()) {
      unstarted_.push_back(
          {.topic = tp.topic, .partition = tp.partition, .paused = paused_, .since = now});
      it = unstarted_.end() - 1;
    }
    // Its pause flag may not be this consumer's state (a late pause of a lost start, a resume
    // the start never saw): given again once started.
    it->reassert = true;
    it->since = now;
    it->not_before_us = not_before_us;
    const bool was_stalled = std::find(stalled.begin(), stalled.end(),
                                       std::make_pair(it->topic, it->partition)) != stalled.end();
    if (was_stalled) {
      ++it->restarts;
      it->warned = false;  // the give-up is logged even after a "waiting" warning
    }
  }
  start_restarts_ += static_cast<int64_t>(stalled.size());
  if (options_.start_restarts != nullptr) {
    options_.start_restarts->Add(static_cast<int64_t>(stalled.size()));
  }
  ReportUnstarted();
  return true;
}

void Consumer::ClearAllPauseFlags() {
  rd_kafka_topic_partition_list_t* all = nullptr;
  if (rd_kafka_assignment(client_.get(), &all) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    PartitionListHandle owned(all);
    ClearPauseFlags(all);
  }
  pause_flags_ = false;
}

absl::Status Consumer::Seek(const char* topic, int32_t partition, int64_t offset) {
  // A fetch restart before any record of it starts where this puts it.
  for (auto& [key, start] : start_offsets_) {
    if (key.second == partition && key.first == topic) start = offset;
  }
  PartitionListHandle seek = NewPartitionList(1);
  rd_kafka_topic_partition_list_add(seek.get(), topic, partition)->offset = offset;
  if (rd_kafka_error_t* error = rd_kafka_seek_partitions(client_.get(), seek.get(), 0)) {
    absl::Status st = absl::InternalError(rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return st;
  }
  return absl::OkStatus();
}

absl::Status Consumer::Close() {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  {
    // rd_kafka_consumer_close forwards the consumer queue to a temporary queue and waits on it
    // for the group's end; a yield on the consumer queue follows the forward, ends that wait at
    // once and makes the close return "Local: Timed out" with the group still leaving. The
    // client's destruction then waited for that leave forever (seen under ThreadSanitizer: a
    // worker whose finished item took the in-flight count below the resume threshold woke the
    // paused consumer during the close; Stop() wakes it too). No Wake() after this point.
    MutexLock lock(&wake_mu_);
    closing_ = true;
  }
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(client_.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(log::Cat("consumer close: ", rd_kafka_err2str(err)));
  }
  if (rd_kafka_consumer_closed(client_.get()) == 0) {
    return absl::InternalError("consumer close returned before the group was left");
  }
  return absl::OkStatus();
}

void Consumer::RebalanceCb(rd_kafka_t*, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<Consumer*>(opaque)->OnRebalance(err, partitions);
}

int Consumer::StatsCb(rd_kafka_t*, char* json, size_t len, void* opaque) {
  auto* c = static_cast<Consumer*>(opaque);
  if (!c->unstarted_.empty()) c->CheckStarts(std::string_view(json, len));
  c->listener_->OnStatistics(std::string_view(json, len));
  return 0;  // librdkafka frees the buffer
}

void Consumer::ErrorCb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  static_cast<Consumer*>(opaque)->listener_->OnClientError(
      rk, static_cast<rd_kafka_resp_err_t>(err), reason);
}

void Consumer::LogCb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // Installed only with a hook; the opaque is the Consumer from rd_kafka_new to the end of
  // rd_kafka_destroy (the client dies first in ~Consumer, the options after).
  const auto* c = static_cast<const Consumer*>(rd_kafka_opaque(rk));
  if (c != nullptr && c->options_.library_log_hook_for_testing) {
    c->options_.library_log_hook_for_testing(buf);
  }
  RouteLog(rk, level, fac, buf);
}

void Consumer::ApplyReplay(rd_kafka_topic_partition_list_t* partitions) {
  PartitionListHandle lookup = NewPartitionList(partitions->cnt);
  for (int i = 0; i < partitions->cnt; ++i) {
    const auto& tp = partitions->elems[i];
    if (replayed_.contains({tp.topic, tp.partition})) continue;
    rd_kafka_topic_partition_list_add(lookup.get(), tp.topic, tp.partition)->offset =
        options_.start_timestamp_ms;  // offsets_for_times reads the timestamp from `offset`
  }
  if (lookup->cnt == 0) return;
  rd_kafka_resp_err_t err =
      rd_kafka_offsets_for_times(client_.get(), lookup.get(), options_.replay_lookup_timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // The committed offsets stay: a replay that cannot start is logged, not a stall.
    SW_LOG(kError, kLog, options_.what, ": replay from timestamp ", options_.start_timestamp_ms,
           ": offsets_for_times: ", rd_kafka_err2str(err), "; starting at the committed offsets");
    return;
  }
  for (int i = 0; i < lookup->cnt; ++i) {
    const auto& found = lookup->elems[i];
    rd_kafka_topic_partition_t* tp =
        rd_kafka_topic_partition_list_find(partitions, found.topic, found.partition);
    if (tp == nullptr) continue;
    if (found.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      SW_LOG(kWarning, kLog, options_.what, ": replay of ", found.topic, "[", found.partition,
             "]: ", rd_kafka_err2str(found.err), "; starting at the committed offset");
      continue;
    }
    // -1: every record is older than the timestamp: start at the end.
    tp->offset = found.offset >= 0 ? found.offset : RD_KAFKA_OFFSET_END;
    replayed_.insert({found.topic, found.partition});
  }
}

void Consumer::OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
  const char* protocol = rd_kafka_rebalance_protocol(client_.get());
  const bool cooperative = protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (options_.start_timestamp_ms >= 0) ApplyReplay(partitions);
    listener_->OnAssign(partitions);
    PartitionListHandle replaced;
    if (!cooperative) replaced = listener_->AssignmentFor(*partitions);
    rd_kafka_topic_partition_list_t* assigned = replaced != nullptr ? replaced.get() : partitions;
    assigned_count_ += assigned->cnt;
    // The pause state of the new partitions, set without racing librdkafka. Every pause or
    // resume takes a new version of the partition and then queues its operation; the
    // partition's thread drops an operation older than one it already ran. librdkafka's main
    // thread starts an assigned partition (a resume of its own pause, then the fetch start)
    // when the committed offsets arrive, some milliseconds after the assign call returns. A
    // pause or resume of ours interleaved with those is dropped, or drops the fetch start:
    // either way the partition stays assigned and is never fetched (a member of a group lost a
    // whole partition that way; the consumer's tests make the interleaving happen every time).
    // So nothing is paused or resumed after the assign: a paused consumer pauses the
    // partitions before assigning them (its operations are queued before any of the start's),
    // and no old pause flag needs clearing, because the revoke cleared it (below). Until the
    // start is seen (MarkStarted), SetPaused() leaves the new partitions alone too: the
    // pipeline's backpressure lost the same race (tests/kafka/consumer_test.cc, Backpressure*).
    PartitionListHandle pause_late;  // partitions librdkafka did not know before the assign
    if (paused_ && assigned->cnt > 0) {
      PartitionListHandle pause(rd_kafka_topic_partition_list_copy(assigned));
      rd_kafka_pause_partitions(client_.get(), pause.get());
      pause_flags_ = true;
      for (int i = 0; i < pause->cnt; ++i) {
        if (pause->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
        // Not in its metadata yet (a topic it has not seen): paused after the assign, racing.
        if (pause_late == nullptr) pause_late = NewPartitionList(pause->cnt);
        rd_kafka_topic_partition_list_add(pause_late.get(), pause->elems[i].topic,
                                          pause->elems[i].partition);
      }
    }
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(client_.get(), partitions)) {
        SW_LOG(kError, kLog, "incremental_assign: ", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else if (rd_kafka_resp_err_t e = rd_kafka_assign(client_.get(), assigned)) {
      SW_LOG(kError, kLog, "assign: ", rd_kafka_err2str(e));
    }
    if (pause_late != nullptr) rd_kafka_pause_partitions(client_.get(), pause_late.get());
    // Until librdkafka is seen to have started them, SetPaused() leaves these alone.
    const absl::Time now = absl::Now();
    for (int i = 0; i < assigned->cnt; ++i) {
      const auto& tp = assigned->elems[i];
      const bool late =
          pause_late != nullptr &&
          rd_kafka_topic_partition_list_find(pause_late.get(), tp.topic, tp.partition) != nullptr;
      unstarted_.push_back({.topic = tp.topic,
                            .partition = tp.partition,
                            .paused = paused_,
                            .reassert = late,
                            .since = now});
      start_offsets_.push_back({{tp.topic, tp.partition}, tp.offset});
    }
    ReportUnstarted();
    SW_LOG(kInfo, kLog, "assigned ", assigned->cnt, " partition(s) (", assigned_count_, " total, ",
           cooperative ? "cooperative" : "eager", ")");
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    const bool lost = rd_kafka_assignment_lost(client_.get()) != 0;
    listener_->OnRevoke(*partitions, lost);
    // librdkafka keeps this consumer's pause flag on a partition object across unassign and
    // assign: a partition paused now would come back paused at its next assignment. Clear the
    // flags here, before the unassign, while no fetcher of ours is starting (see the assign
    // branch); the library's own pause holds the fetchers until the unassign stops them.
    if (cooperative) {
      ClearPauseFlags(partitions);
    } else {
      ClearAllPauseFlags();
    }
    if (cooperative) {
      std::erase_if(unstarted_, [&](const Unstarted& u) {
        return rd_kafka_topic_partition_list_find(partitions, u.topic.c_str(), u.partition) !=
               nullptr;
      });
      std::erase_if(start_offsets_, [&](const auto& s) {
        return rd_kafka_topic_partition_list_find(partitions, s.first.first.c_str(),
                                                  s.first.second) != nullptr;
      });
    } else {
      unstarted_.clear();
      start_offsets_.clear();
    }
    ReportUnstarted();
    // Eager: the unassign below drops everything, an AssignmentFor() extension too.
    assigned_count_ = cooperative ? std::max(0, assigned_count_ - partitions->cnt) : 0;
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(client_.get(), partitions)) {
        SW_LOG(kError, kLog, "incremental_unassign: ", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(client_.get(), nullptr);
    }
    SW_LOG(kInfo, kLog, lost ? "lost " : "revoked ", partitions->cnt, " partition(s)");
  } else {
    SW_LOG(kError, kLog, "rebalance error: ", rd_kafka_err2str(err));
    ClearAllPauseFlags();
    rd_kafka_assign(client_.get(), nullptr);
    assigned_count_ = 0;
    unstarted_.clear();
    start_offsets_.clear();
    ReportUnstarted();
  }
}

absl::Status Consumer::InjectFatalErrorForTesting(rd_kafka_resp_err_t err) {
  if (rd_kafka_test_fatal_error(client_.get(), err, "injected by a test") !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError("rd_kafka_test_fatal_error on the consumer failed");
  }
  return absl::OkStatus();
}

}  // namespace steppewatch::kafka

// DemoFeed: the README's one-command demo in embedded mode. Produces the bundled sample items
// to the input topic, reads the alert topics from the beginning and prints every alert as a
// readable line on stdout as it arrives.
//
// Done(): every demo item was finished by the pipeline (processed and its outputs acked) and
// every alert delivered to the alert topics was printed. The daemon exits on it with
// --demo-exit.
//
// Threading: owns one thread (the reader); Start() and the destructor from the main thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "steppewatch/kafka/stories_role.h"
#include "steppewatch/pipeline/stats.h"

namespace steppewatch::daemon {

struct DemoOptions {
  std::string bootstrap;
  std::string items_file;  // JSON lines
  std::string input_topic;
  std::vector<std::string> alert_topics;  // read and printed
  int partitions = 16;                    // of each alert topic (the embedded broker's)
  std::string dead_letter_topic;          // deliveries there are not alerts
  // With the stories role in the same process: the demo also prints, under each alert, the
  // story it joined when it is a copy, and every spike event; Done() then also waits for the
  // role to have read every alert and for its outputs to be printed. The items' published_at
  // are moved so that the newest is now (the stage judges spikes on event time, and a month
  // old timeline would be history, not news). Null: alerts only, items as written.
  const kafka::StoriesRole* stories = nullptr;
  std::string stories_topic;
  std::string spikes_topic;
};

class DemoFeed {
 public:
  // Reads the items file (fails when missing or empty).
  static absl::StatusOr<std::unique_ptr<DemoFeed>> Create(DemoOptions options,
                                                          const pipeline::Stats* stats);
  ~DemoFeed();

  // Produces the items (waits for their delivery) and starts printing alerts.
  absl::Status Start();

  // Returns true once every demo item is finished and every delivered alert was printed.
  bool Done() const;

  size_t items() const { return lines_.size(); }
  size_t alerts_printed() const { return printed_.load(); }

 private:
  DemoFeed(DemoOptions options, const pipeline::Stats* stats, std::vector<std::string> lines)
      : options_(std::move(options)), stats_(stats), lines_(std::move(lines)) {}
  void ReadAlerts();

  const DemoOptions options_;
  const pipeline::Stats* stats_;
  const std::vector<std::string> lines_;
  uint64_t processed_before_ = 0;  // items the pipeline had finished before the demo started
  std::atomic<size_t> printed_{0};
  std::atomic<size_t> stories_printed_{0};  // messages of the stories topic read
  std::atomic<size_t> spikes_printed_{0};
  std::atomic<bool> stop_{false};
  std::thread reader_;
};

// Formats one alert (steppewatch.alert.v1 JSON) as one readable line; falls back to the raw
// JSON (truncated) when it does not parse.
std::string FormatAlertLine(std::string_view topic, std::string_view json);

// The demo's line for a message of the stories topic: "STORY ..." when the alert is a copy of
// an earlier story (empty for a story's first copy: its alert line says it all).
std::string FormatStoryLine(std::string_view json);
// The demo's line for a spike event: "SPIKE start tag theme:energy: 6 new stories ...".
std::string FormatSpikeLine(std::string_view json);
// Moves every item's "published_at" (RFC 3339, UTC) by the same amount so that the newest is
// `now`; lines without one stay as they are.
std::vector<std::string> ShiftPublishedAt(const std::vector<std::string>& lines, absl::Time now);

}  // namespace steppewatch::daemon

// `steppewatch stories`: the stories stage offline. Alerts as NDJSON in (what `steppewatch match`
// writes, in time order), out: every alert with its "story" object and the spike events
// (steppewatch.spike.v1), one JSON per line, in the order the stage would publish them, through
// the same StoriesStage as the daemon's stories role. One thread: the stage is sequential.
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/builtin.h"
#include "cli/flags.h"
#include "steppewatch/alert/json_writer.h"
#include "steppewatch/cli/command.h"
#include "steppewatch/stories/stage.h"

namespace steppewatch::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: steppewatch stories [--window DUR] [--bucket DUR] [--spike-window DUR]\n"
    "                           [--warmup-days N] [--baseline DUR] [--min-stories N]\n"
    "                           [--floor X] [--alpha X] [--top-story-ids N] [--max-keys N]\n"
    "                           [--now TIME]\n"
    "                           [--output FILE] [--rejected FILE] [FILE|-]\n"
    "\n"
    "Groups alerts (steppewatch.alert.v1 with item.fingerprint, one per line from FILE or stdin,\n"
    "as `steppewatch match` writes them, in time order) into stories and detects spikes of new\n"
    "stories per rule and per tag, as the daemon's stories stage does. Writes to stdout or\n"
    "--output FILE, one JSON per line, in the stage's order:\n"
    "  - every alert with a \"story\" object {id, first_seen, copies, sources, languages, new}\n"
    "    (its schema stays steppewatch.alert.v1);\n"
    "  - spike events, schema steppewatch.spike.v1 (state start, update or end).\n"
    "At the end of the input the clock moves on by the spike window, so every spike that\n"
    "started also ends, as it would if the stream went quiet.\n"
    "\n"
    "  --window DUR         how long a story takes copies (default 72h)\n"
    "  --bucket DUR         counting bucket (default 10m)\n"
    "  --spike-window DUR   trailing window a spike is judged on (default 2h)\n"
    "  --warmup-days N      days of history before any spike (default 7)\n"
    "  --baseline DUR       time constant of each key's baseline level (default 168h)\n"
    "  --min-stories N      fewest new stories in the spike window for a spike (default 5)\n"
    "  --floor X            smallest expected count a key is judged against (default 0.5)\n"
    "  --alpha X            Poisson upper-tail probability below which a count spikes\n"
    "                       (default 0.0001)\n"
    "  --top-story-ids N    story ids listed in a spike event (default 10)\n"
    "  --max-keys N         keys (rules and tags) tracked for spikes (default 10000); a key\n"
    "                       past it never spikes, and the new stories it would have counted\n"
    "                       are summed in the summary\n"
    "  --now TIME           the present (RFC 3339): every detected_at is TIME and\n"
    "                       published_at later than TIME + 1 day is not believed\n"
    "                       (reproducible backtests; default: the wall clock)\n"
    "  --rejected FILE      write alerts the stage cannot use as JSON lines\n"
    "                       {\"line\",\"reason\",\"message\"} (default: counted only)\n"
    "DUR: 90s, 10m, 72h, 3d (days), or abseil forms like 1h30m.\n"
    "\n"
    "Event time: item.published_at when it parses (RFC 3339, Reuters' 26-FEB-1987 15:01:01.79)\n"
    "and is sane, else origin.timestamp_ms, else the stream's time (the latest event time so\n"
    "far: an undated item arrived between its neighbours); such undated alerts are grouped\n"
    "but not counted for spikes, and before any dated alert they are rejected (no_time).\n"
    "A summary goes to stderr: alerts, stories, copies, spike events, rejected by reason.\n"
    "\n"
    "exit: 0 done (rejected alerts are reported, not failures), 1 the input or output failed,\n"
    "2 usage error\n";

bool ParseDurationFlag(const Flags& flags, const std::string& name, absl::Duration* out,
                       std::string* error) {
  auto v = flags.Get(name);
  if (!v) return true;
  absl::Duration d;
  bool ok;
  if (!v->empty() && v->back() == 'd') {
    int64_t days = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size() - 1, days);
    ok = ec == std::errc() && p == v->data() + v->size() - 1 && days > 0 && days < 10000;
    d = absl::Hours(24) * days;
  } else {
    ok = absl::ParseDuration(absl::string_view(v->data(), v->size()), &d);
  }
  if (!ok || d <= absl::ZeroDuration()) {
    *error = "--" + name + " must be a positive duration (90s, 10m, 72h, 3d), not '" + *v + "'";
    return false;
  }
  *out = d;
  return true;
}

bool ParseDoubleFlag(const Flags& flags, const std::string& name, double* out, std::string* error) {
  auto v = flags.Get(name);
  if (!v) return true;
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || errno != 0) {
    *error = "--" + name + " must be a number, not '" + *v + "'";
    return false;
  }
  *out = x;
  return true;
}

}  // namespace

int RunStoriesCommand(int argc, char** argv) {
  Flags flags({"window", "bucket", "spike-window", "warmup-days", "baseline", "min-stories",
               "floor", "alpha", "top-story-ids", "max-keys", "now", "output", "rejected"},
              {});
  if (!flags.Parse(argc, argv)) return UsageError("stories", flags.error(), kUsage);
  if (flags.help()) {
    std::fputs(kUsage.data(), stdout);
    return kExitOk;
  }
  stories::StageOptions options;
  std::string error;
  int64_t warmup = options.warmup_days, min_stories = options.min_stories,
          top = options.top_story_ids, max_keys = static_cast<int64_t>(options.max_keys);
  if (!ParseDurationFlag(flags, "window", &options.window, &error) ||
      !ParseDurationFlag(flags, "bucket", &options.bucket, &error) ||
      !ParseDurationFlag(flags, "spike-window", &options.spike_window, &error) ||
      !ParseDurationFlag(flags, "baseline", &options.baseline, &error) ||
      !ParseDoubleFlag(flags, "floor", &options.baseline_floor, &error) ||
      !ParseDoubleFlag(flags, "alpha", &options.alpha, &error)) {
    return UsageError("stories", error, kUsage);
  }
  if (!flags.GetInt("warmup-days", 0, 365, &warmup) ||
      !flags.GetInt("min-stories", 1, 1000000, &min_stories) ||
      !flags.GetInt("top-story-ids", 0, 100, &top) ||
      !flags.GetInt("max-keys", 1, 10000000, &max_keys)) {
    return UsageError("stories", flags.error(), kUsage);
  }
  options.warmup_days = static_cast<int>(warmup);
  options.min_stories = static_cast<int>(min_stories);
  options.top_story_ids = static_cast<int>(top);
  options.max_keys = static_cast<size_t>(max_keys);
  options.fixed_now = flags.Get("now").value_or("");
  if (flags.positional().size() > 1) {
    return UsageError("stories", "give at most one input file", kUsage);
  }
  auto stage = stories::StoriesStage::Create(options);
  if (!stage.ok()) {
    return UsageError("stories", std::string(stage.status().message()), kUsage);
  }
  std::string input = flags.positional().empty() ? "-" : flags.positional()[0];

  std::FILE* in = OpenFile("stories", input, "rb", stdin);
  if (!in) return kExitFailure;
  std::FILE* out = OpenFile("stories", flags.Get("output").value_or("-"), "wb", stdout);
  if (!out) return kExitFailure;
  std::FILE* rejected = nullptr;
  if (auto path = flags.Get("rejected")) {
    rejected = OpenFile("stories", *path, "wb", stdout);
    if (!rejected) return kExitFailure;
  }

  stories::StoriesStage& s = **stage;
  std::map<std::string, uint64_t, std::less<>> reasons;
  uint64_t starts = 0, updates = 0, ends = 0;
  std::string buf;  // output, flushed in blocks
  auto write_spikes = [&](const stories::StageOutput& o) {
    for (const auto& e : o.spikes) {
      buf.append(e.json);
      buf.push_back('\n');
      if (e.json.find("\"state\":\"start\"") != std::string_view::npos) {
        ++starts;
      } else if (e.json.find("\"state\":\"update\"") != std::string_view::npos) {
        ++updates;
      } else {
        ++ends;
      }
    }
  };
  // Alerts go to the stage in batches (ProcessBatch: the same outputs as one by one, faster),
  // each output written in input order: the alert, then the spike events it caused.
  constexpr size_t kBatch = 64;
  std::vector<std::string> lines(kBatch);
  std::vector<int64_t> line_numbers(kBatch);
  std::vector<stories::StageInput> inputs;
  inputs.reserve(kBatch);
  bool io_error = false;
  auto run_batch = [&] {
    if (inputs.empty()) return;
    auto outs = s.ProcessBatch(inputs, /*replay=*/false);
    for (size_t i = 0; i < outs.size(); ++i) {
      const stories::StageOutput& o = outs[i];
      // The alert, then the spike events it caused (spikes its time ended, spikes it started).
      if (!o.rejected.empty()) {
        ++reasons[std::string(o.rejected)];
        if (rejected) {
          std::string r;
          alert::JsonWriter w(&r);
          w.BeginObject();
          w.FieldInt("line", line_numbers[i]);
          w.Field("reason", o.rejected);
          w.Field("message", o.message);
          w.EndObject();
          r.push_back('\n');
          if (std::fwrite(r.data(), 1, r.size(), rejected) != r.size()) io_error = true;
        }
      } else {
        buf.append(o.alert);
        buf.push_back('\n');
      }
      write_spikes(o);
    }
    inputs.clear();
    if (buf.size() > (1 << 20)) {
      if (std::fwrite(buf.data(), 1, buf.size(), out) != buf.size()) io_error = true;
      buf.clear();
    }
  };
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  int64_t line_no = 0;
  while ((n = getline(&line, &cap, in)) > 0) {
    ++line_no;
    std::string_view text(line, static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    if (text.find_first_not_of(" \t") == std::string_view::npos) continue;
    const size_t at = inputs.size();
    lines[at].assign(text);
    line_numbers[at] = line_no;
    inputs.push_back({lines[at], -1});
    if (inputs.size() == kBatch) run_batch();
  }
  run_batch();
  std::free(line);
  bool read_error = std::ferror(in) != 0;
  stories::StageStats before_flush = s.stats();
  if (before_flush.clock_ms >= 0) {
    write_spikes(s.Tick(before_flush.clock_ms +
                        absl::ToInt64Milliseconds(options.spike_window + options.bucket)));
  }
  if (!buf.empty() && std::fwrite(buf.data(), 1, buf.size(), out) != buf.size()) io_error = true;
  if (std::fflush(out) != 0) io_error = true;

  stories::StageStats st = s.stats();
  std::fprintf(
      stderr,
      "stories: %llu alerts, %llu stories, %llu copies; %llu spike events (%llu start, "
      "%llu update, %llu end); %llu rejected",
      static_cast<unsigned long long>(st.alerts), static_cast<unsigned long long>(st.new_stories),
      static_cast<unsigned long long>(st.copies), static_cast<unsigned long long>(st.spike_events),
      static_cast<unsigned long long>(starts), static_cast<unsigned long long>(updates),
      static_cast<unsigned long long>(ends), static_cast<unsigned long long>(st.rejected));
  if (!reasons.empty()) {
    std::fputs(" (", stderr);
    bool first = true;
    for (const auto& [reason, count] : reasons) {
      std::fprintf(stderr, "%s%s %llu", first ? "" : ", ", reason.c_str(),
                   static_cast<unsigned long long>(count));
      first = false;
    }
    std::fputs(")", stderr);
  }
  if (st.undated != 0) {
    std::fprintf(stderr, "; %llu undated (grouped at the stream's time, not counted for spikes)",
                 static_cast<unsigned long long>(st.undated));
  }
  if (st.behind_spike_window != 0) {
    std::fprintf(stderr,
                 "; %llu new-story counts more than the spike window behind the stream (baselines "
                 "only, no spike count)",
                 static_cast<unsigned long long>(st.behind_spike_window));
  }
  if (st.ahead != 0) {
    std::fprintf(stderr,
                 "; %llu %s dated further ahead than the stream's pace allows (the clock "
                 "waited for another story: %llu %s)",
                 static_cast<unsigned long long>(st.ahead), st.ahead == 1 ? "alert" : "alerts",
                 static_cast<unsigned long long>(st.clock_jumps),
                 st.clock_jumps == 1 ? "jump confirmed" : "jumps confirmed");
  }
  if (st.stream_holes != 0) {
    std::fprintf(stderr,
                 "; %llu %s in the data (silences of the whole stream of more than two weeks: "
                 "the spike baselines went on after %s)",
                 static_cast<unsigned long long>(st.stream_holes),
                 st.stream_holes == 1 ? "hole" : "holes", st.stream_holes == 1 ? "it" : "each");
  }
  std::fprintf(stderr, "; window %zu stories and memory %s at the end of the input, %zu keys",
               before_flush.window_stories, HumanBytes(before_flush.memory_bytes).c_str(), st.keys);
  if (st.dropped_keys != 0) {
    std::fprintf(stderr,
                 " (%llu new-story counts dropped for keys past --max-keys: those "
                 "keys never spike)",
                 static_cast<unsigned long long>(st.dropped_keys));
  }
  std::fputc('\n', stderr);
  if (in != stdin) std::fclose(in);
  if (out != stdout && std::fclose(out) != 0) io_error = true;
  if (rejected && rejected != stdout && std::fclose(rejected) != 0) io_error = true;
  if (read_error) std::fprintf(stderr, "steppewatch stories: error reading %s\n", input.c_str());
  if (io_error) std::fprintf(stderr, "steppewatch stories: error writing the output\n");
  return read_error || io_error ? kExitFailure : kExitOk;
}

}  // namespace steppewatch::cli

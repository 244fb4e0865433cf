// `steppewatch match`: the backtest. NDJSON items in, alert messages out as NDJSON (one line per
// alert, exactly the value the daemon would publish, which names its destination topic), through
// the same ItemProcessor as the daemon. With --threads 1 one thread reads, processes and writes.
// With more, N workers each own an ItemProcessor and take turns reading the next chunk of input
// (whole lines) into a batch of their own; a worker that finishes a batch also writes what is
// ready (in input order with --ordered) unless another worker is writing (pipeline::TurnWriter),
// and the main thread only waits and prints the progress line.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/builtin.h"
#include "cli/flags.h"
#include "cli/match_summary.h"
#include "steppewatch/alert/json_writer.h"
#include "steppewatch/cli/command.h"
#include "steppewatch/pipeline/item_processor.h"
#include "steppewatch/pipeline/turn_writer.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: steppewatch match --rules DIR [--threads N] [--ordered] [--output FILE]\n"
    "                         [--dead-letters FILE] [--instance NAME] [--processed-at TIME]\n"
    "                         [--hits full|compact] [--summary] [--summary-json FILE]\n"
    "                         [--cache-dir DIR] [--no-progress] [FILE|-]\n"
    "\n"
    "Runs the rule pack in DIR over news items, one JSON object per line (NDJSON) from FILE or\n"
    "stdin, and writes every alert message (schema steppewatch.alert.v1) as one line to stdout\n"
    "or --output FILE: one line per item and destination topic, as the daemon would publish;\n"
    "each alert's \"topic\" names its destination topic.\n"
    "\n"
    "  --threads N          worker threads, each with its own decoder, scratch and evaluator\n"
    "                       (default 1)\n"
    "  --ordered            write alerts in input order (default: as workers finish)\n"
    "  --dead-letters FILE  write items that cannot be processed as JSON lines\n"
    "                       {\"line\",\"reason\",\"message\"} to FILE (default: stderr)\n"
    "  --instance NAME      the alerts' \"instance\" (default: the host name)\n"
    "  --processed-at TIME  fix every alert's \"processed_at\" (reproducible output, tests)\n"
    "  --hits MODE          full (default: up to 32 hits per rule) or compact (one hit per\n"
    "                       distinct term, at most 8 per rule, shorter snippets)\n"
    "  --summary            print alerts per rule, tag, source and language and the enabled\n"
    "                       rules that never fired to stderr at the end\n"
    "  --summary-json FILE  write the same summary as one JSON object to FILE (- for stdout)\n"
    "  --cache-dir DIR      keep the pack's compiled databases in DIR (as the daemon's\n"
    "                       rules.cache_dir): the next run of the same pack skips the compile\n"
    "                       (the summary says \"pack loaded from the cache\")\n"
    "  --no-progress        no progress line (it is shown only when stderr is a terminal)\n"
    "\n"
    "A summary goes to stderr at the end: items, items/s, alerts, top rules, dead letters by\n"
    "reason. Items' origin.offset is their line number; origin.topic is empty.\n"
    "\n"
    "exit: 0 done (dead letters are reported, not failures), 1 the pack is invalid or the input\n"
    "or output failed, 2 usage error\n";

// Bytes a worker reads per batch with several threads: ~300 news items, ~1.5 ms of work, enough
// to amortise the input lock, few enough that --ordered output does not wait long behind one
// slow batch. A line longer than this makes its batch larger.
constexpr size_t kBatchBytes = 256 << 10;
// Bytes read from the input at a time with --threads 1.
constexpr size_t kReadChunk = 1 << 20;

// Returns the number of '\n' in [data, data + size). With several threads this runs under the
// input lock over every batch: std::count compiles to a byte-at-a-time loop (~7 instructions
// per byte, 28% of the instructions of the items themselves on the bench corpus, and the other
// workers wait for it), glibc's memchr scans 32 or 64 bytes per step.
size_t CountNewlines(const char* data, size_t size) {
  size_t n = 0;
  const char* const end = data + size;
  for (const char* p = data;
       (p = static_cast<const char*>(std::memchr(p, '\n', end - p))) != nullptr; ++p) {
    ++n;
  }
  return n;
}

struct Batch {
  uint64_t seq = 0;
  int64_t first_line = 1;
  // Several threads: whole lines, read straight into buf[0, len). buf keeps its size from batch
  // to batch, so filling it again writes no byte twice.
  std::string buf;
  size_t len = 0;
  uint64_t bytes = 0;  // of the non-blank lines: the items' bytes
  // Results.
  std::string alerts;
  std::string dead;
  uint64_t items = 0;
  uint64_t alert_count = 0;
};

class Runner {
 public:
  Runner(std::shared_ptr<const rules::CompiledPack> pack, pipeline::ProcessorOptions options,
         int threads, bool ordered, std::FILE* in, std::FILE* out, std::FILE* dead, bool progress,
         bool summary, std::FILE* summary_json)
      : pack_(std::move(pack)),
        options_(std::move(options)),
        threads_(threads),
        ordered_(ordered),
        in_(in),
        out_(out),
        dead_(dead),
        progress_(progress),
        summary_(summary),
        summary_json_(summary_json),
        writer_(ordered_, [this](Batch& b) { WriteBatch(b); }) {}

  int Run();

 private:
  // Fills `b` with the next whole lines of the input (and its sequence number and first line
  // number); false at the end of the input. Under in_mu_: the workers take turns.
  bool ReadBatch(Batch* b);
  void Work(pipeline::ItemProcessor* processor, MatchCounts* counts);
  // Writes b's alerts and dead letters; false when writing the alerts failed.
  bool Write(const Batch& b);
  // Writes b, counts it and clears its results for reuse: by the inline loop, or with several
  // threads by one worker at a time (writer_).
  void WriteBatch(Batch& b);
  // Processes one non-blank line into b's results.
  void ProcessLine(pipeline::ItemProcessor* processor, std::string_view line, int64_t number,
                   Batch* b, MatchCounts* counts);
  // --threads 1: reads, processes and writes on this thread, from the read buffer, with no
  // batches handed between threads (a hand-off per batch cost wake-ups and a copy of the input).
  int RunInline(pipeline::ItemProcessor* processor, MatchCounts* counts);
  // Prints the summary; returns the exit code.
  int Finish(double seconds, const std::vector<MatchCounts>& counts);

  std::shared_ptr<const rules::CompiledPack> pack_;
  pipeline::ProcessorOptions options_;
  int threads_;
  bool ordered_;
  std::FILE* in_;
  std::FILE* out_;
  std::FILE* dead_;
  bool progress_;
  bool summary_;
  std::FILE* summary_json_;

  // std::mutex rather than absl::Mutex: Debian's libabsl is not TSan-instrumented.
  // in_mu_: the input and where it stands; a worker holds it while it reads its batch (the
  // read lands in that worker's cache, where it is processed next; no copy of the lines but
  // the partial last one).
  std::mutex in_mu_;
  std::string carry_;      // guarded by in_mu_: the start of a line the last read cut
  int64_t next_line_ = 1;  // guarded by in_mu_
  bool eof_ = false;       // guarded by in_mu_
  // in_mu_ also guards these:
  uint64_t batches_read_ = 0;
  bool read_error_ = false;
  // Several threads: the workers write the batches they finish, taking turns.
  pipeline::TurnWriter<Batch> writer_;
  // Written by one thread at a time (the inline loop, or the worker whose turn it is to write);
  // atomic because the main thread reads them for the progress line.
  std::atomic<uint64_t> items_{0}, alerts_{0}, bytes_{0};
  // Written by the worker whose turn it is to write (writer_ hands the turn on under its lock),
  // read after the workers are joined.
  bool write_error_ = false;
};

bool Runner::ReadBatch(Batch* b) {
  std::lock_guard<std::mutex> in_lock(in_mu_);
  if (eof_) return false;
  if (b->buf.size() < carry_.size() + kBatchBytes) b->buf.resize(carry_.size() + kBatchBytes);
  std::memcpy(b->buf.data(), carry_.data(), carry_.size());  // the line the last read cut
  size_t len = carry_.size();
  size_t cut = 0;  // the end of the batch's last whole line
  while (true) {
    if (len == b->buf.size()) b->buf.resize(b->buf.size() * 2);  // a line longer than a batch
    const size_t n = std::fread(b->buf.data() + len, 1, b->buf.size() - len, in_);
    if (n == 0) {
      eof_ = true;
      if (std::ferror(in_)) read_error_ = true;
      cut = len;  // the last line may have no newline
      break;
    }
    const size_t searched = len;
    len += n;
    const void* nl = memrchr(b->buf.data() + searched, '\n', n);
    if (nl != nullptr) {
      cut = static_cast<const char*>(nl) - b->buf.data() + 1;
      break;
    }
    // No newline in what was read (the carried part never holds one): a line longer than the
    // buffer so far; read on.
  }
  carry_.assign(b->buf.data() + cut, len - cut);
  b->len = cut;
  if (cut == 0) return false;
  b->first_line = next_line_;
  next_line_ += CountNewlines(b->buf.data(), cut);
  if (b->buf[cut - 1] != '\n') ++next_line_;  // the input's last line, unterminated
  b->seq = batches_read_++;
  return true;
}

void Runner::Work(pipeline::ItemProcessor* processor, MatchCounts* counts) {
  while (true) {
    std::unique_ptr<Batch> b = writer_.TakeSpare();
    if (b == nullptr) b = std::make_unique<Batch>();
    if (!ReadBatch(b.get())) {
      uint64_t batches;
      {
        std::lock_guard<std::mutex> in_lock(in_mu_);
        batches = batches_read_;  // final: the input has ended
      }
      writer_.Close(batches);
      return;
    }
    const std::string_view data(b->buf.data(), b->len);
    int64_t line = b->first_line;
    for (size_t pos = 0; pos < data.size(); ++line) {
      size_t nl = data.find('\n', pos);
      if (nl == std::string_view::npos) nl = data.size();
      const std::string_view l = data.substr(pos, nl - pos);
      // Skip blank lines but keep counting them, so line numbers match the file.
      if (l.find_first_not_of(" \t\r") != std::string_view::npos) {
        ProcessLine(processor, l, line, b.get(), counts);
        b->bytes += l.size();
      }
      pos = nl + 1;
    }
    const uint64_t seq = b->seq;
    writer_.Submit(seq, std::move(b));
  }
}

void Runner::WriteBatch(Batch& b) {
  if (!Write(b)) write_error_ = true;
  items_ += b.items;
  alerts_ += b.alert_count;
  bytes_ += b.bytes;
  b.alerts.clear();
  b.dead.clear();
  b.bytes = b.items = b.alert_count = 0;
}

void Runner::ProcessLine(pipeline::ItemProcessor* processor, std::string_view line, int64_t number,
                         Batch* b, MatchCounts* counts) {
  ++b->items;
  pipeline::Origin origin;
  origin.offset = number;
  const pipeline::Outcome& o = processor->Process(line, origin);
  const bool alerted = o.kind == pipeline::Outcome::Kind::kAlerts;
  const bool detail = summary_ || summary_json_ != nullptr;
  if (detail && o.item != nullptr) {
    auto& source = counts->sources[std::string(o.item->source)];
    auto& lang = counts->languages[std::string(o.item->lang)];
    ++source.first;
    ++lang.first;
    if (alerted) {
      ++source.second;
      ++lang.second;
    }
  }
  if (alerted) {
    for (const pipeline::AlertMessage& a : o.alerts) {
      b->alerts.append(a.value);
      b->alerts.push_back('\n');
      ++b->alert_count;
    }
    for (uint32_t r : o.fired_rules) ++counts->rules[r];
    if (detail) {
      ++counts->alerting_items;
      std::vector<std::string_view>& item_tags = counts->item_tags;
      item_tags.clear();
      for (uint32_t r : o.fired_rules) {
        for (const std::string& t : pack_->rules()[r].tags) item_tags.push_back(t);
      }
      std::sort(item_tags.begin(), item_tags.end());
      item_tags.erase(std::unique(item_tags.begin(), item_tags.end()), item_tags.end());
      for (std::string_view t : item_tags) ++counts->tags[std::string(t)];
    }
  } else if (o.kind == pipeline::Outcome::Kind::kDeadLetter) {
    ++counts->reasons[std::string(o.reason)];
    alert::JsonWriter w(&b->dead);
    w.BeginObject();
    w.FieldInt("line", origin.offset);
    w.Field("reason", o.reason);
    w.Field("message", o.message);
    w.EndObject();
    b->dead.push_back('\n');
  }
}

int Runner::RunInline(pipeline::ItemProcessor* processor, MatchCounts* counts) {
  const auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  // `b` only collects results (its data stays empty: lines are processed where they were read);
  // written and cleared after every chunk, so its buffers keep their capacity.
  Batch b;
  std::string buf(kReadChunk, '\0');
  size_t have = 0;  // bytes of buf holding input not yet processed (a partial line)
  int64_t line = 1;
  auto process = [&](std::string_view l) {
    if (l.find_first_not_of(" \t\r") != std::string_view::npos) {
      ProcessLine(processor, l, line, &b, counts);
      b.bytes += l.size();  // as the batches count: the items' bytes
    }
    ++line;
  };
  auto flush = [&] { WriteBatch(b); };
  while (true) {
    if (have == buf.size()) buf.resize(buf.size() * 2);  // a line longer than the buffer
    const size_t n = std::fread(buf.data() + have, 1, buf.size() - have, in_);
    if (n == 0) {
      if (std::ferror(in_)) read_error_ = true;
      break;
    }
    const std::string_view chunk(buf.data(), have + n);
    size_t pos = 0;
    for (size_t nl; (nl = chunk.find('\n', pos)) != std::string_view::npos; pos = nl + 1) {
      process(chunk.substr(pos, nl - pos));
    }
    have = chunk.size() - pos;
    std::memmove(buf.data(), buf.data() + pos, have);
    flush();
    const auto now = std::chrono::steady_clock::now();
    if (progress_ && now - last_progress > std::chrono::milliseconds(500)) {
      last_progress = now;
      const double s = std::chrono::duration<double>(now - start).count();
      std::fprintf(stderr, "\r%llu items, %.0f items/s, %llu alerts   ",
                   static_cast<unsigned long long>(items_), items_ / std::max(s, 1e-9),
                   static_cast<unsigned long long>(alerts_));
    }
  }
  if (have > 0) {
    process(std::string_view(buf.data(), have));
  }
  flush();
  return 0;
}

bool Runner::Write(const Batch& b) {
  if (!b.dead.empty()) std::fwrite(b.dead.data(), 1, b.dead.size(), dead_);
  return b.alerts.empty() ||
         std::fwrite(b.alerts.data(), 1, b.alerts.size(), out_) == b.alerts.size();
}

int Runner::Run() {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<pipeline::ItemProcessor>> processors;
  for (int i = 0; i < threads_; ++i) {
    auto p = pipeline::ItemProcessor::Create(pack_, options_);
    if (!p.ok()) {
      std::fprintf(stderr, "steppewatch match: %s\n", std::string(p.status().message()).c_str());
      return kExitFailure;
    }
    processors.push_back(*std::move(p));
  }
  std::vector<MatchCounts> counts(threads_);
  for (MatchCounts& c : counts) c.rules.assign(pack_->rules().size(), 0);
  if (threads_ == 1) {
    RunInline(processors[0].get(), &counts[0]);
    std::fflush(out_);
    if (progress_) std::fprintf(stderr, "\r\033[K");
    return Finish(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                  counts);
  }
  std::vector<std::thread> workers;
  for (int i = 0; i < threads_; ++i) {
    workers.emplace_back([&, i] { Work(processors[i].get(), &counts[i]); });
  }
  // The workers write; wait until every batch is written, waking twice a second for the
  // progress line.
  while (!writer_.WaitWritten(std::chrono::steady_clock::now() + std::chrono::milliseconds(500))) {
    if (!progress_) continue;
    const uint64_t items = items_;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "\r%llu items, %.0f items/s, %llu alerts   ",
                 static_cast<unsigned long long>(items), items / std::max(s, 1e-9),
                 static_cast<unsigned long long>(alerts_));
  }
  for (auto& w : workers) w.join();
  std::fflush(out_);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (progress_) std::fprintf(stderr, "\r\033[K");
  return Finish(seconds, counts);
}

int Runner::Finish(double seconds, const std::vector<MatchCounts>& counts) {
  MatchCounts total;
  total.rules.assign(pack_->rules().size(), 0);
  uint64_t dead = 0;
  for (const MatchCounts& c : counts) {
    for (size_t r = 0; r < c.rules.size(); ++r) total.rules[r] += c.rules[r];
    for (const auto& [k, v] : c.reasons) {
      total.reasons[k] += v;
      dead += v;
    }
    total.alerting_items += c.alerting_items;
    for (const auto& [k, v] : c.tags) total.tags[k] += v;
    for (const auto& [k, v] : c.sources) {
      total.sources[k].first += v.first;
      total.sources[k].second += v.second;
    }
    for (const auto& [k, v] : c.languages) {
      total.languages[k].first += v.first;
      total.languages[k].second += v.second;
    }
  }
  const std::vector<uint64_t>& per_rule = total.rules;
  const std::map<std::string, uint64_t>& by_reason = total.reasons;
  std::fprintf(stderr,
               "items %llu in %.2f s: %.0f items/s, %.1f MB/s; alerts %llu; dead letters %llu\n",
               static_cast<unsigned long long>(items_), seconds, items_ / std::max(seconds, 1e-9),
               bytes_ / std::max(seconds, 1e-9) / 1e6, static_cast<unsigned long long>(alerts_),
               static_cast<unsigned long long>(dead));
  std::vector<std::pair<uint64_t, uint32_t>> top;
  for (uint32_t r = 0; r < per_rule.size(); ++r) {
    if (per_rule[r]) top.emplace_back(per_rule[r], r);
  }
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  if (!top.empty()) {
    std::fprintf(stderr, "top rules:");
    // Ten rules fit a terminal line or two; the full table is one `jq` away from the alerts.
    for (size_t i = 0; i < top.size() && i < 10; ++i) {
      std::fprintf(stderr, "%s %s %llu", i ? "," : "", pack_->rules()[top[i].second].id.c_str(),
                   static_cast<unsigned long long>(top[i].first));
    }
    std::fprintf(stderr, "\n");
  }
  if (!by_reason.empty()) {
    std::fprintf(stderr, "dead letters by reason:");
    bool first = true;
    for (const auto& [k, v] : by_reason) {
      std::fprintf(stderr, "%s %s %llu", first ? "" : ",", k.c_str(),
                   static_cast<unsigned long long>(v));
      first = false;
    }
    std::fprintf(stderr, "\n");
  }
  PrintMatchSummary(*pack_, total, items_, alerts_, dead, summary_, summary_json_);
  if (read_error_) {
    std::fprintf(stderr, "steppewatch match: reading the input failed\n");
    return kExitFailure;
  }
  if (write_error_ || std::ferror(out_)) {
    std::fprintf(stderr, "steppewatch match: writing the output failed\n");
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

int RunMatchCommand(int argc, char** argv) {
  Flags flags({"rules", "threads", "output", "dead-letters", "instance", "processed-at", "hits",
               "summary-json", "cache-dir"},
              {"ordered", "no-progress", "summary"});
  if (!flags.Parse(argc, argv)) return UsageError("match", flags.error(), kUsage);
  if (flags.help()) {
    std::fputs(kUsage.data(), stdout);
    return kExitOk;
  }
  if (!flags.Has("rules")) return UsageError("match", "--rules DIR is required", kUsage);
  int64_t threads = 1;
  // 256 threads is far beyond any machine this runs on; the bound catches typos.
  if (!flags.GetInt("threads", 1, 256, &threads)) return UsageError("match", flags.error(), kUsage);
  if (flags.positional().size() > 1)
    return UsageError("match", "give at most one input file", kUsage);
  std::string input = flags.positional().empty() ? "-" : flags.positional()[0];

  pipeline::ProcessorOptions options;
  options.time_scans = false;  // no match-time figure offline: spare two clock reads per item
  if (auto hits = flags.Get("hits"); hits && !alert::ParseHitsMode(*hits, &options.hits)) {
    return UsageError("match", "--hits must be full or compact, not '" + *hits + "'", kUsage);
  }
  rules::PackOptions pack_options;
  pack_options.matcher.cache_dir = flags.Get("cache-dir").value_or("");
  auto pack = LoadPackOrPrint(*flags.Get("rules"), pack_options);
  if (!pack) return kExitFailure;
  if (!pack_options.matcher.cache_dir.empty()) {
    const rules::PackStats& ps = pack->stats();
    std::fprintf(stderr, "pack %s in %.3f s\n",
                 ps.matcher.from_cache ? "loaded from the cache" : "compiled (now cached)",
                 ps.load_seconds);
  }

  std::FILE* in = OpenFile("match", input, "rb", stdin);
  if (!in) return kExitFailure;
  std::FILE* out = OpenFile("match", flags.Get("output").value_or("-"), "wb", stdout);
  if (!out) return kExitFailure;
  std::FILE* dead = stderr;
  if (auto path = flags.Get("dead-letters")) {
    dead = OpenFile("match", *path, "wb", stderr);
    if (!dead) return kExitFailure;
  }
  std::FILE* summary_json = nullptr;
  if (auto path = flags.Get("summary-json")) {
    summary_json = OpenFile("match", *path, "wb", stdout);
    if (!summary_json) return kExitFailure;
  }
  options.instance = flags.Get("instance").value_or("");
  options.fixed_processed_at = flags.Get("processed-at").value_or("");
  bool progress = !flags.Has("no-progress") && isatty(STDERR_FILENO);
  Runner runner(pack, options, static_cast<int>(threads), flags.Has("ordered"), in, out, dead,
                progress, flags.Has("summary"), summary_json);
  int rc = runner.Run();
  if (in != stdin) std::fclose(in);
  if (out != stdout && std::fclose(out) != 0) rc = kExitFailure;
  if (dead != stderr) std::fclose(dead);
  if (summary_json && summary_json != stdout && std::fclose(summary_json) != 0) {
    rc = kExitFailure;
  }
  return rc;
}

}  // namespace steppewatch::cli

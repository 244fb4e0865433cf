// Tests RuleReloader with real packs on disk: the real loader, Hyperscan compile and embedded
// tests, real inotify on a temp directory (including a Kubernetes-style `..data` symlink swap).
// Waits are on the reloader's attempt counter with a deadline, never sleeps.
#include "steppewatch/daemon/reloader.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/pipeline/pack_holder.h"
#include "steppewatch/rules/evaluator.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

namespace steppewatch::daemon {
namespace {

namespace fs = std::filesystem;
using ::steppewatch::testing::IsOk;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// Generous bound for a reload on a loaded 2-core machine (compile + tests take milliseconds
// here); it only limits how long a broken reloader makes the test hang.
constexpr absl::Duration kDeadline = absl::Seconds(60);

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  // Write to a temp name and rename, as editors and deploy tools do, so the reloader never sees
  // a half-written file in these tests.
  const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
  }
  fs::rename(tmp, path);
}

std::string PackYaml(const std::string& version) {
  return "pack:\n  name: reload-test\n  version: \"" + version + "\"\n";
}

// A rule file with one rule `id` that fires on `term`, with one embedded example each way.
std::string RuleYaml(const std::string& id, const std::string& term) {
  return "rules:\n"
         "  - id: " +
         id +
         "\n"
         "    title: Mentions " +
         term +
         "\n"
         "    query: '" +
         term +
         "'\n"
         "    tests:\n"
         "      match:\n"
         "        - \"A summit opened in " +
         term +
         " on Monday.\"\n"
         "      no_match:\n"
         "        - \"Nothing to see here.\"\n";
}

// Returns the ids of the rules of `pack` that fire on an item with body `body`.
std::vector<std::string> FiringRules(std::shared_ptr<const rules::CompiledPack> pack,
                                     const std::string& body) {
  auto context = match::MatchContext::Create(pack->matcher());
  EXPECT_THAT(context.status(), IsOk());
  if (!context.ok()) return {};
  rules::Evaluator evaluator(pack);
  std::vector<match::Hit> hits;
  const std::string_view fields[2] = {"", body};
  EXPECT_THAT((*context)->Scan(fields, &hits), IsOk());
  std::vector<std::string> ids;
  for (const rules::FiredRule& f : evaluator.Evaluate({{fields[0], fields[1]}, "en", ""}, hits)) {
    ids.push_back(pack->rules()[f.rule].id);
  }
  return ids;
}

class ReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = steppewatch::testing::MakeTempDir("sw-reload");
    WriteFile(dir_ / "pack.yaml", PackYaml("1"));
    WriteFile(dir_ / "rules" / "astana.yaml", RuleYaml("t.astana", "Astana"));
  }

  // Loads the initial pack from dir_ into a holder, as the daemon does at startup.
  void LoadInitial() {
    auto pack = LoadAndTestPack(dir_, {});
    ASSERT_THAT(pack.status(), IsOk());
    holder_ = std::make_unique<pipeline::PackHolder>(*pack);
  }

  std::unique_ptr<RuleReloader> StartReloader(bool watch) {
    ReloaderOptions options;
    options.rules_dir = dir_;
    options.watch = watch;
    // Short so the file-change tests finish quickly; the burst they make is one rename.
    options.debounce = absl::Milliseconds(50);
    auto reloader = RuleReloader::Create(holder_.get(), options);
    EXPECT_THAT(reloader.status(), IsOk());
    return reloader.ok() ? *std::move(reloader) : nullptr;
  }

  fs::path dir_;
  std::unique_ptr<pipeline::PackHolder> holder_;
};

TEST_F(ReloaderTest, SwapsInAGoodChangeOnRequestAndTheNewRuleFires) {
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  auto reloader = StartReloader(/*watch=*/false);
  ASSERT_NE(reloader, nullptr);
  const std::string old_hash = holder_->Get()->info().hash;
  EXPECT_THAT(FiringRules(holder_->Get(), "Talks in Bishkek."), Not(Contains("t.bishkek")));

  WriteFile(dir_ / "rules" / "bishkek.yaml", RuleYaml("t.bishkek", "Bishkek"));
  WriteFile(dir_ / "pack.yaml", PackYaml("2"));
  reloader->RequestReload();
  ASSERT_TRUE(reloader->AwaitAttempts(1, kDeadline));

  EXPECT_EQ(holder_->generation(), 1u);
  const ReloaderStatus status = reloader->status();
  EXPECT_EQ(status.success, 1u);
  EXPECT_EQ(status.failure, 0u);
  EXPECT_EQ(status.running.version, "2");
  EXPECT_NE(status.running.hash, old_hash);
  EXPECT_EQ(reloader->counters().success.load(), 1u);
  EXPECT_GT(reloader->counters().last_success_unix_seconds.load(), 0.0);
  EXPECT_THAT(FiringRules(holder_->Get(), "Talks in Bishkek."), Contains("t.bishkek"));
  EXPECT_THAT(FiringRules(holder_->Get(), "Back in Astana."), Contains("t.astana"));
}

TEST_F(ReloaderTest, KeepsTheRunningPackWhenAQueryDoesNotParseAndNamesFileAndLine) {
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  auto reloader = StartReloader(/*watch=*/false);
  ASSERT_NE(reloader, nullptr);
  const std::shared_ptr<const rules::CompiledPack> before = holder_->Get();

  // Line 4 holds the broken query: an operator with no right operand.
  WriteFile(dir_ / "rules" / "broken.yaml",
            "rules:\n  - id: t.broken\n    title: Broken\n    query: 'Astana AND'\n");
  reloader->RequestReload();
  ASSERT_TRUE(reloader->AwaitAttempts(1, kDeadline));

  EXPECT_EQ(holder_->generation(), 0u);
  EXPECT_EQ(holder_->Get(), before);
  const ReloaderStatus status = reloader->status();
  EXPECT_EQ(status.failure, 1u);
  EXPECT_EQ(status.success, 0u);
  EXPECT_THAT(status.last_error, HasSubstr("rules/broken.yaml:4:"));
  EXPECT_EQ(reloader->counters().failure.load(), 1u);
  EXPECT_THAT(FiringRules(holder_->Get(), "Back in Astana."), Contains("t.astana"));
}

TEST_F(ReloaderTest, KeepsTheRunningPackWhenAnEmbeddedTestFails) {
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  auto reloader = StartReloader(/*watch=*/false);
  ASSERT_NE(reloader, nullptr);

  // Compiles fine, but its `match` example (line 7) does not mention the term.
  WriteFile(dir_ / "rules" / "wrong.yaml",
            "rules:\n"
            "  - id: t.wrong\n"
            "    title: Wrong example\n"
            "    query: 'Dushanbe'\n"
            "    tests:\n"
            "      match:\n"
            "        - \"A summit opened in Tashkent.\"\n");
  reloader->RequestReload();
  ASSERT_TRUE(reloader->AwaitAttempts(1, kDeadline));

  EXPECT_EQ(holder_->generation(), 0u);
  const ReloaderStatus status = reloader->status();
  EXPECT_EQ(status.failure, 1u);
  EXPECT_THAT(status.last_error, HasSubstr("rules/wrong.yaml:7:"));
  EXPECT_THAT(status.last_error, HasSubstr("t.wrong"));
  EXPECT_THAT(status.last_error, HasSubstr("expected match"));
}

// Polls `done` every 10 ms until it holds or kDeadline passes; returns whether it held. For
// state that has no notification (the watch flag): the deadline only bounds a broken reloader.
template <typename Fn>
bool WaitFor(Fn done) {
  const absl::Time deadline = absl::Now() + kDeadline;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST_F(ReloaderTest, RecordsEachOutcomeInTheCountersAndTheStatusFile) {
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  const fs::path status_file = steppewatch::testing::MakeTempDir("sw-reload-status") / "status";
  ReloaderOptions options;
  options.rules_dir = dir_;
  options.watch = false;
  options.status_file = status_file;
  SW_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RuleReloader> reloader,
                          RuleReloader::Create(holder_.get(), options));
  EXPECT_TRUE(reloader->counters().last_ok.load());  // the start-up pack is the disk's
  EXPECT_EQ(ReadReloadStatus(status_file).status().code(), absl::StatusCode::kNotFound);

  WriteFile(dir_ / "rules" / "broken.yaml",
            "rules:\n  - id: t.broken\n    title: Broken\n    query: 'Astana AND'\n");
  const int64_t before_ms = absl::ToUnixMillis(absl::Now());
  reloader->RequestReload();
  ASSERT_TRUE(reloader->AwaitAttempts(1, kDeadline));
  EXPECT_FALSE(reloader->counters().last_ok.load());
  EXPECT_GE(reloader->counters().last_attempt_unix_seconds.load(), before_ms / 1000);
  SW_ASSERT_OK_AND_ASSIGN(ReloadOutcome refused, ReadReloadStatus(status_file));
  EXPECT_EQ(refused.attempt, 1u);
  EXPECT_EQ(refused.result, "refused");
  EXPECT_GE(refused.started_unix_ms, before_ms);
  EXPECT_GE(refused.finished_unix_ms, refused.started_unix_ms);
  EXPECT_EQ(refused.pack, holder_->Get()->info().hash);
  EXPECT_THAT(refused.error, HasSubstr("rules/broken.yaml:4:"));

  fs::remove(dir_ / "rules" / "broken.yaml");
  WriteFile(dir_ / "rules" / "astana.yaml", RuleYaml("t.astana", "Almaty"));
  reloader->RequestReload();
  ASSERT_TRUE(reloader->AwaitAttempts(2, kDeadline));
  EXPECT_TRUE(reloader->counters().last_ok.load());
  SW_ASSERT_OK_AND_ASSIGN(ReloadOutcome installed, ReadReloadStatus(status_file));
  EXPECT_EQ(installed.attempt, 2u);
  EXPECT_EQ(installed.result, "installed");
  EXPECT_EQ(installed.pack, holder_->Get()->info().hash);
  EXPECT_EQ(installed.error, "");

  reloader->RequestReload();  // same files: unchanged also counts as the disk's pack running
  ASSERT_TRUE(reloader->AwaitAttempts(3, kDeadline));
  EXPECT_TRUE(reloader->counters().last_ok.load());
  SW_ASSERT_OK_AND_ASSIGN(ReloadOutcome unchanged, ReadReloadStatus(status_file));
  EXPECT_EQ(unchanged.result, "unchanged");
}

// `rm -rf rules && cp -r new-rules rules`: the directory's watches die with it. The reloader
// must notice, say so in watch_active, and watch the new directory once it is there, so later
// edits reload again without a SIGHUP.
TEST_F(ReloaderTest, WatchesTheDirectoryAgainWhenItIsDeletedAndRecreated) {
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  ReloaderOptions options;
  options.rules_dir = dir_;
  options.watch = true;
  options.debounce = absl::Milliseconds(50);
  options.rewatch_period = absl::Milliseconds(50);
  SW_ASSERT_OK_AND_ASSIGN(std::unique_ptr<RuleReloader> reloader,
                          RuleReloader::Create(holder_.get(), options));
  EXPECT_TRUE(reloader->counters().watch_active.load());

  fs::remove_all(dir_);
  ASSERT_TRUE(WaitFor([&] { return !reloader->counters().watch_active.load(); }))
      << "the reloader did not notice that the directory is gone";
  // The files it sees (none) are not a pack: refused, the running pack stays.
  ASSERT_TRUE(WaitFor([&] { return reloader->status().failure >= 1; }));
  EXPECT_EQ(holder_->generation(), 0u);

  // The deploy finishes a while later with a new pack.
  WriteFile(dir_ / "pack.yaml", PackYaml("2"));
  WriteFile(dir_ / "rules" / "astana.yaml", RuleYaml("t.astana", "Almaty"));
  ASSERT_TRUE(WaitFor([&] { return reloader->counters().watch_active.load(); }))
      << "the reloader did not watch the recreated directory";
  // (It may first load the directory half-copied; the copy's last file triggers one more.)
  const auto fires = [&](const char* body) {
    const std::vector<std::string> ids = FiringRules(holder_->Get(), body);
    return std::find(ids.begin(), ids.end(), "t.astana") != ids.end();
  };
  ASSERT_TRUE(WaitFor([&] { return holder_->generation() >= 1 && fires("Rain in Almaty."); }))
      << "the recreated directory's pack was not loaded: " << reloader->status().last_error;

  // And it keeps watching: a later edit reloads by itself.
  const uint64_t generation = holder_->generation();
  WriteFile(dir_ / "rules" / "astana.yaml", RuleYaml("t.astana", "Bishkek"));
  ASSERT_TRUE(WaitFor([&] {
    return holder_->generation() > generation && fires("Snow in Bishkek.");
  })) << "an edit after the directory came back did not reload";
  EXPECT_TRUE(reloader->counters().watch_active.load());
}

TEST_F(ReloaderTest, ReloadsWhenAFileInTheDirectoryChanges) {
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  auto reloader = StartReloader(/*watch=*/true);
  ASSERT_NE(reloader, nullptr);

  WriteFile(dir_ / "rules" / "astana.yaml", RuleYaml("t.astana", "Almaty"));
  ASSERT_TRUE(reloader->AwaitAttempts(1, kDeadline));
  EXPECT_EQ(reloader->status().success, 1u);
  EXPECT_EQ(holder_->generation(), 1u);
  EXPECT_THAT(FiringRules(holder_->Get(), "Rain in Almaty."), Contains("t.astana"));
}

TEST_F(ReloaderTest, WatchesSubdirectoriesCreatedAfterStart) {
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  auto reloader = StartReloader(/*watch=*/true);
  ASSERT_NE(reloader, nullptr);

  // A new subdirectory: its creation is an event in rules/, and the reload that follows starts
  // watching it ...
  WriteFile(dir_ / "rules" / "kg" / "bishkek.yaml", RuleYaml("t.bishkek", "Bishkek"));
  ASSERT_TRUE(reloader->AwaitAttempts(1, kDeadline));
  ASSERT_EQ(reloader->status().success, 1u);
  // ... so a later change inside it, which no other directory sees, reloads too.
  WriteFile(dir_ / "rules" / "kg" / "bishkek.yaml", RuleYaml("t.bishkek", "Osh"));
  ASSERT_TRUE(reloader->AwaitAttempts(2, kDeadline));
  EXPECT_EQ(reloader->status().success, 2u);
  EXPECT_THAT(FiringRules(holder_->Get(), "Market day in Osh."), Contains("t.bishkek"));
}

TEST_F(ReloaderTest, FollowsAConfigMapStyleDataSymlinkSwap) {
  // The layout kubelet writes for a ConfigMap volume: the data in a hidden timestamped
  // directory, `..data` pointing at it, and each key a symlink through `..data`.
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  const fs::path v1 = dir_ / "..2026_11_27_21_00_00.000000001";
  WriteFile(v1 / "pack.yaml", PackYaml("1"));
  WriteFile(v1 / "astana.yaml", RuleYaml("t.astana", "Astana"));
  fs::create_directory_symlink(v1.filename(), dir_ / "..data");
  fs::create_symlink("..data/pack.yaml", dir_ / "pack.yaml");
  fs::create_symlink("..data/astana.yaml", dir_ / "astana.yaml");
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  auto reloader = StartReloader(/*watch=*/true);
  ASSERT_NE(reloader, nullptr);

  // kubelet's update: a new timestamped directory, a `..data_tmp` symlink to it renamed over
  // `..data` (atomic), then the old directory removed. No top-level file is touched.
  const fs::path v2 = dir_ / "..2026_11_27_21_05_00.000000002";
  WriteFile(v2 / "pack.yaml", PackYaml("2"));
  WriteFile(v2 / "astana.yaml", RuleYaml("t.astana", "Nur-Sultan"));
  fs::create_directory_symlink(v2.filename(), dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  fs::remove_all(v1);

  ASSERT_TRUE(reloader->AwaitAttempts(1, kDeadline));
  const ReloaderStatus status = reloader->status();
  EXPECT_EQ(status.success, 1u) << status.last_error;
  EXPECT_EQ(status.running.version, "2");
  EXPECT_THAT(FiringRules(holder_->Get(), "Snow in Nur-Sultan."), Contains("t.astana"));
}

TEST_F(ReloaderTest, DoesNotSwapWhenThePackIsUnchanged) {
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  auto reloader = StartReloader(/*watch=*/false);
  ASSERT_NE(reloader, nullptr);
  const auto before = holder_->Get();
  reloader->RequestReload();
  ASSERT_TRUE(reloader->AwaitAttempts(1, kDeadline));
  EXPECT_EQ(reloader->status().unchanged, 1u);
  EXPECT_EQ(holder_->generation(), 0u);
  EXPECT_EQ(holder_->Get(), before);
}

TEST_F(ReloaderTest, WorkersKeepEvaluatingAcrossASwapAndPickUpTheNewPack) {
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  auto reloader = StartReloader(/*watch=*/false);
  ASSERT_NE(reloader, nullptr);

  // A worker as the pipeline runs one: poll generation() per item, re-take the pack when it
  // moved, keep going with the old one meanwhile.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> items{0};
  std::atomic<uint64_t> saw_new_rule{0};
  std::thread worker([&] {
    uint64_t generation = holder_->generation();
    std::shared_ptr<const rules::CompiledPack> pack = holder_->Get();
    while (!stop.load()) {
      if (holder_->generation() != generation) {
        generation = holder_->generation();
        pack = holder_->Get();
      }
      const std::vector<std::string> fired = FiringRules(pack, "Astana and Bishkek.");
      if (std::find(fired.begin(), fired.end(), "t.bishkek") != fired.end()) saw_new_rule++;
      items++;
    }
  });
  // Let the worker evaluate with the old pack first: a reload served from the compiled-pack
  // cache takes about a millisecond and could otherwise finish before the thread first runs.
  const absl::Time warm = absl::Now() + kDeadline;
  while (items.load() == 0 && absl::Now() < warm) std::this_thread::yield();
  WriteFile(dir_ / "rules" / "bishkek.yaml", RuleYaml("t.bishkek", "Bishkek"));
  reloader->RequestReload();
  const bool reloaded = reloader->AwaitAttempts(1, kDeadline);
  // Wait (bounded) until the worker has evaluated with the new pack at least once.
  const absl::Time deadline = absl::Now() + kDeadline;
  while (saw_new_rule.load() == 0 && absl::Now() < deadline) std::this_thread::yield();
  stop = true;
  worker.join();
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloader->status().success, 1u);
  EXPECT_GT(saw_new_rule.load(), 0u);
  EXPECT_GT(items.load(), saw_new_rule.load()) << "the worker never ran with the old pack";
}

TEST_F(ReloaderTest, GateCountsPerRuleDifferencesOnASample) {
  ASSERT_NO_FATAL_FAILURE(LoadInitial());
  const fs::path next_dir = steppewatch::testing::MakeTempDir("sw-gate");
  WriteFile(next_dir / "pack.yaml", PackYaml("2"));
  WriteFile(next_dir / "astana.yaml", RuleYaml("t.astana", "Astana"));
  WriteFile(next_dir / "bishkek.yaml", RuleYaml("t.bishkek", "Bishkek"));
  auto next = LoadAndTestPack(next_dir, {});
  ASSERT_THAT(next.status(), IsOk());
  const fs::path sample = next_dir.parent_path() / (next_dir.filename().string() + ".jsonl");
  WriteFile(sample,
            "{\"id\": \"1\", \"body\": \"A visit to Astana.\"}\n"
            "{\"id\": \"2\", \"body\": \"The Bishkek market.\"}\n"
            "not json: skipped by both packs alike\n"
            "{\"id\": \"3\", \"title\": \"Astana and Bishkek\", \"body\": \"Talks.\"}\n");

  auto diffs = CompareOnSample(holder_->Get(), *next, sample, 100);
  ASSERT_THAT(diffs.status(), IsOk());
  ASSERT_EQ(diffs->size(), 1u);  // t.astana fires on 2 items under both packs: no difference.
  EXPECT_EQ((*diffs)[0].rule, "t.bishkek");
  EXPECT_EQ((*diffs)[0].before, 0u);
  EXPECT_EQ((*diffs)[0].after, 2u);

  // max_items bounds the replay: only the first item is used.
  auto first_only = CompareOnSample(holder_->Get(), *next, sample, 1);
  ASSERT_THAT(first_only.status(), IsOk());
  EXPECT_TRUE(first_only->empty());
  fs::remove(sample);
}

// The packs shipped in the Kubernetes manifests are what a fresh deployment reloads: they must
// load and pass their own embedded tests, as the reloader demands.
TEST(RuleReloader, KubernetesExamplePacksLoadAndPassTheirTests) {
  for (const char* dir :
       {"deploy/kubernetes/base/rules", "deploy/kubernetes/overlays/production/rules"}) {
    auto pack = LoadAndTestPack(steppewatch::testing::SourceDir() / dir, {});
    EXPECT_THAT(pack.status(), IsOk()) << dir;
  }
}

TEST(RuleReloader, RejectsAMissingDirectory) {
  auto pack = rules::CompiledPack::LoadFromFiles(
      {{"pack.yaml", PackYaml("1")}, {"r.yaml", RuleYaml("t.astana", "Astana")}});
  ASSERT_THAT(pack.status(), IsOk());
  pipeline::PackHolder holder(*pack);
  ReloaderOptions options;
  options.rules_dir = "/nonexistent/steppewatch/rules";
  EXPECT_EQ(RuleReloader::Create(&holder, options).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace steppewatch::daemon

// steppewatchd as users run it: the real binary as a subprocess in embedded mode, with kcat
// (Debian's) as the external client. Checks the README's demo command end to end, and that
// kcat, connecting to the printed bootstrap address, reads alerts (key = item id, headers, the
// alert JSON) and dead letters (reason headers), and that SIGTERM exits 0.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "testing/paths.h"

extern char** environ;

namespace steppewatch {
namespace {

using ::testing::HasSubstr;

// A child process with its stdout (and stderr, merged) on a pipe.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(fd_);
  }

  // Reads output until `pattern` matches a line or `timeout`; returns the match groups.
  std::smatch WaitForLine(const std::regex& pattern, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      size_t nl;
      while ((nl = buffer_.find('\n', scanned_)) != std::string::npos) {
        std::string line = buffer_.substr(scanned_, nl - scanned_);
        scanned_ = nl + 1;
        lines_.push_back(line);
        std::smatch m;
        if (std::regex_search(lines_.back(), m, pattern)) return m;
      }
      if (!ReadSome(deadline)) return {};
    }
  }

  // Reads everything until the process closes its output, then reaps it; returns the exit
  // code or -1 on timeout (the child is then killed).
  int Wait(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (ReadSome(deadline)) {
    }
    if (absl::Now() >= deadline) {
      kill(pid_, SIGKILL);
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  void Signal(int sig) { kill(pid_, sig); }
  const std::string& output() const { return buffer_; }

 private:
  bool ReadSome(absl::Time deadline) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(ms)) <= 0) return false;
    char buf[4096];
    const ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  std::string buffer_;
  size_t scanned_ = 0;
  std::vector<std::string> lines_;
};

std::string Daemon() { return (testing::BinaryDir() / "steppewatchd").string(); }
std::string Pack() { return (testing::SourceDir() / "config/rules/central-asia").string(); }
std::string Sample() { return (testing::SourceDir() / "config/demo/sample-items.jsonl").string(); }

// Runs a command through /bin/sh and returns its stdout.
std::string Shell(const std::string& command) {
  std::string out;
  FILE* f = popen(command.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

bool HaveKcat() { return Shell("command -v kcat").find("kcat") != std::string::npos; }

TEST(DaemonEmbedded, ReadmeDemoPrintsAlertsAndExitsZero) {
  const auto tmp = testing::MakeTempDir("sw-demo");
  Child daemon({Daemon(), "--embedded", "--rules", Pack(), "--demo", Sample(), "--demo-exit",
                "--set", "rules.cache_dir=" + (tmp / "cache").string(), "--set",
                "metrics.listen=127.0.0.1:0"});
  const int rc = daemon.Wait(absl::Seconds(120));
  const std::string& out = daemon.output();
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, ::testing::ContainsRegex("embedded Kafka broker at 127\\.0\\.0\\.1:[0-9]+"));
  std::smatch m;
  const std::regex summary("demo: ([0-9]+) items processed, ([0-9]+) alerts printed");
  ASSERT_TRUE(std::regex_search(out, m, summary)) << out;
  size_t lines = 0;
  for (size_t p = out.find("ALERT ["); p != std::string::npos; p = out.find("ALERT [", p + 1)) {
    ++lines;
  }
  EXPECT_GT(std::stoul(m[2]), 0u);
  EXPECT_EQ(lines, std::stoul(m[2])) << "every delivered alert printed once";
  EXPECT_THAT(out, HasSubstr("ca.geopolitics"));
  EXPECT_THAT(out, HasSubstr("steppewatchd: ready"));
}

TEST(DaemonEmbedded, KcatReadsAlertsAndDeadLettersAndSigtermExitsZero) {
  if (!HaveKcat()) GTEST_SKIP() << "kcat is not installed (Debian package kcat)";
  const auto tmp = testing::MakeTempDir("sw-kcat");
  Child daemon({Daemon(), "--embedded", "--rules", Pack(), "--set",
                "rules.cache_dir=" + (tmp / "cache").string(), "--set",
                "metrics.listen=127.0.0.1:0", "--set", "kafka.embedded.partitions=4"});
  std::smatch m =
      daemon.WaitForLine(std::regex("embedded Kafka broker at (\\S+)"), absl::Seconds(60));
  ASSERT_FALSE(m.empty()) << daemon.output();
  const std::string bootstrap = m[1];
  ASSERT_FALSE(daemon.WaitForLine(std::regex("steppewatchd: ready"), absl::Seconds(60)).empty())
      << daemon.output();

  // Keyed input for kcat -K'\t': "id<TAB>json", plus two malformed items.
  std::ifstream in(Sample());
  std::ofstream keyed(tmp / "keyed.txt");
  simdjson::ondemand::parser parser;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    simdjson::padded_string padded(line);
    simdjson::ondemand::document doc;
    ASSERT_EQ(parser.iterate(padded).get(doc), simdjson::SUCCESS);
    std::string_view id;
    ASSERT_EQ(doc["id"].get_string().get(id), simdjson::SUCCESS);
    keyed << id << '\t' << line << '\n';
  }
  keyed << "bad-1\t{\"id\": \"bad-1\", \"title\": \n";
  keyed << "bad-2\t[1, 2]\n";
  keyed.close();
  const std::string produce = "kcat -P -b " + bootstrap + " -t news.items -K '\t' -l " +
                              (tmp / "keyed.txt").string() + " 2>&1";
  Shell(produce);

  // Dead letters: exactly the two malformed items, with the reason headers.
  const std::string dlq = Shell("timeout 60 kcat -C -b " + bootstrap +
                                " -t steppewatch.dead-letter -o beginning -c 2 -J -q 2>/dev/null");
  std::set<std::string> dead_keys;
  simdjson::dom::parser dom;
  for (size_t start = 0, nl; (nl = dlq.find('\n', start)) != std::string::npos; start = nl + 1) {
    simdjson::dom::element e;
    ASSERT_EQ(dom.parse(dlq.substr(start, nl - start)).get(e), simdjson::SUCCESS) << dlq;
    std::string_view key;
    ASSERT_EQ(e["key"].get(key), simdjson::SUCCESS);
    dead_keys.insert(std::string(key));
    std::string headers = simdjson::to_string(e["headers"]);
    const char* reason = key == "bad-1" ? "invalid_json" : "not_an_object";
    EXPECT_THAT(headers, HasSubstr(std::string("\"steppewatch.error.reason\",\"") + reason + "\""));
    EXPECT_THAT(headers, HasSubstr("\"steppewatch.error.topic\",\"news.items\""));
    EXPECT_THAT(headers, HasSubstr("steppewatch.error.rule_pack"));
  }
  EXPECT_EQ(dead_keys, (std::set<std::string>{"bad-1", "bad-2"}));

  // Alerts: items that clearly match the default pack arrive keyed by item id, as
  // steppewatch.alert.v1 JSON with the rule headers. Re-read until they are there.
  const std::set<std::string> expected = {"demo-001", "demo-003", "demo-004"};
  std::set<std::string> keys;
  std::string alerts;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    alerts = Shell("timeout 30 kcat -C -b " + bootstrap +
                   " -t alerts.central-asia -o beginning -e -J -q 2>/dev/null");
    keys.clear();
    for (size_t start = 0, nl; (nl = alerts.find('\n', start)) != std::string::npos;
         start = nl + 1) {
      simdjson::dom::element e;
      if (dom.parse(alerts.substr(start, nl - start)).get(e) != simdjson::SUCCESS) continue;
      std::string_view key, payload;
      if (e["key"].get(key) != simdjson::SUCCESS) continue;
      keys.insert(std::string(key));
      if (e["payload"].get(payload) == simdjson::SUCCESS) {
        EXPECT_THAT(std::string(payload), HasSubstr("\"schema\":\"steppewatch.alert.v1\""));
        EXPECT_THAT(std::string(payload), HasSubstr("\"id\":\"" + std::string(key) + "\""));
      }
      EXPECT_THAT(simdjson::to_string(e["headers"]), HasSubstr("steppewatch.rules"));
    }
    if (std::includes(keys.begin(), keys.end(), expected.begin(), expected.end())) break;
  }
  EXPECT_TRUE(std::includes(keys.begin(), keys.end(), expected.begin(), expected.end())) << alerts;
  EXPECT_EQ(keys.count("bad-1"), 0u);

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(absl::Seconds(60)), 0) << daemon.output();
  EXPECT_THAT(daemon.output(), HasSubstr("every consumed item was finished"));
}

}  // namespace
}  // namespace steppewatch

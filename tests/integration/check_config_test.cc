// `steppewatchd --check-config` as an operator runs it: the real binary, a configuration with
// several problems at once; it must name each in the configuration's words and exit 2, and say
// OK (exit 0) for a configuration the daemon would start with.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/paths.h"

namespace steppewatch {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Runs `command` through the shell; returns its exit code and stdout+stderr.
int RunShell(const std::string& command, std::string* output) {
  FILE* f = popen((command + " 2>&1").c_str(), "r");
  if (f == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) output->append(buf, n);
  const int status = pclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(CheckConfig, ReportsEveryProblemInTheUsersWordsAndExits2) {
  const std::filesystem::path tmp = testing::MakeTempDir("sw-check-config");
  // A metrics port in use.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::filesystem::path config = tmp / "steppewatch.yaml";
  std::ofstream(config) << "kafka:\n  common:\n    sasl.pasword: x\n"
                        << "metrics:\n  listen: 127.0.0.1:" << ntohs(addr.sin_port) << "\n"
                        << "rules:\n  dir: /nonexistent/rules\n  cache_dir: "
                        << (tmp / "cache").string() << "\n";
  const std::string daemon = (testing::BinaryDir() / "steppewatchd").string();
  std::string out;
  EXPECT_EQ(RunShell("STEPPEWATCH_METRIC_LISTEN=x " + daemon + " --check-config --config " +
                         config.string(),
                     &out),
            2)
      << out;
  EXPECT_THAT(out,
              AllOf(HasSubstr(config.string() + ":3:19: kafka.common.sasl.pasword: No such "
                                                "configuration property"),
                    HasSubstr("metrics.listen: cannot listen on 127.0.0.1:"),
                    HasSubstr("rule pack /nonexistent/rules: /nonexistent/rules: not a "
                              "directory"),
                    HasSubstr("did you mean STEPPEWATCH_METRICS_LISTEN?"), HasSubstr("3 error(s)"),
                    Not(HasSubstr("BuildKafkaProperties")), Not(HasSubstr("EnvOverrides"))));
  close(fd);

  // The same file, fixed: OK.
  std::ofstream(config) << "metrics:\n  listen: 127.0.0.1:0\n"
                        << "rules:\n  dir: "
                        << (testing::SourceDir() / "config/rules/central-asia").string()
                        << "\n  cache_dir: " << (tmp / "cache").string() << "\n"
                        << "kafka:\n  brokers: embedded\n";
  out.clear();
  EXPECT_EQ(RunShell(daemon + " --check-config --config " + config.string(), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("configuration and rule pack OK"));
  std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace steppewatch

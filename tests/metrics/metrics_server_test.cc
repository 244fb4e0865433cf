#include "steppewatch/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/http_client.h"
#include "steppewatch/metrics/process_collector.h"
#include "testing/status_matchers.h"

namespace steppewatch::metrics {
namespace {

using ::steppewatch::metrics::test_http::HttpGet;
using ::steppewatch::metrics::test_http::HttpResponse;
using ::steppewatch::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

ServerOptions AnyPort() {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  return options;
}

TEST(MetricsServer, ServesMetricsOnAChosenPort) {
  SW_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<MetricsServer> server,
      MetricsServer::Create(AnyPort(), {std::make_shared<ProcessCollector>()}, nullptr));
  ASSERT_GT(server->port(), 0);

  SW_ASSERT_OK_AND_ASSIGN(HttpResponse response, HttpGet(server->port(), "/metrics"));
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.headers, HasSubstr("text/plain"));
  EXPECT_THAT(response.body, HasSubstr("# TYPE process_cpu_seconds_total counter"));
  EXPECT_THAT(response.body, HasSubstr("process_resident_memory_bytes "));
  EXPECT_THAT(response.body, HasSubstr("steppewatch_build_info{version=\""));
}

TEST(MetricsServer, ProbesFollowThePipelineState) {
  pipeline::Stats stats(/*num_workers=*/1);
  SW_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<MetricsServer> server,
      MetricsServer::Create(AnyPort(), {},
                            std::make_shared<HealthChecker>(&stats, HealthOptions{})));

  SW_ASSERT_OK_AND_ASSIGN(HttpResponse live, HttpGet(server->port(), "/healthz"));
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(live.body, "ok\n");

  SW_ASSERT_OK_AND_ASSIGN(HttpResponse ready, HttpGet(server->port(), "/readyz"));
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.body, HasSubstr("rule pack not loaded"));

  stats.health().rules_loaded.store(true);
  stats.health().consumer_created.store(true);
  stats.consumer().rebalances[static_cast<int>(pipeline::RebalanceKind::kAssign)].Add();
  stats.health().main_loop_heartbeat_steady_ns.store(pipeline::Stats::SteadyNowNanos());
  SW_ASSERT_OK_AND_ASSIGN(ready, HttpGet(server->port(), "/readyz"));
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ok\n");

  stats.health().draining.store(true);
  SW_ASSERT_OK_AND_ASSIGN(ready, HttpGet(server->port(), "/readyz"));
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.body, HasSubstr("draining"));
  SW_ASSERT_OK_AND_ASSIGN(live, HttpGet(server->port(), "/healthz"));
  EXPECT_EQ(live.status, 200);
}

TEST(MetricsServer, StaleHeartbeatFailsLiveness) {
  pipeline::Stats stats(/*num_workers=*/1);
  // A beat an hour in the past stands for a worker stuck for an hour.
  stats.worker(0).heartbeat_steady_ns.store(pipeline::Stats::SteadyNowNanos() -
                                            int64_t{3600} * 1000000000);
  SW_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<MetricsServer> server,
      MetricsServer::Create(AnyPort(), {},
                            std::make_shared<HealthChecker>(&stats, HealthOptions{})));
  SW_ASSERT_OK_AND_ASSIGN(HttpResponse live, HttpGet(server->port(), "/healthz"));
  EXPECT_EQ(live.status, 503);
  EXPECT_THAT(live.body, HasSubstr("worker heartbeat is stale"));
}

TEST(MetricsServer, BasicAuthGuardsMetricsButNotProbes) {
  ServerOptions options = AnyPort();
  options.basic_auth_user = "prometheus";
  options.basic_auth_password = "s3cret";
  SW_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<MetricsServer> server,
      MetricsServer::Create(options, {std::make_shared<ProcessCollector>()}, nullptr));

  SW_ASSERT_OK_AND_ASSIGN(HttpResponse anonymous, HttpGet(server->port(), "/metrics"));
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_THAT(anonymous.body, Not(HasSubstr("process_cpu_seconds_total")));

  const std::string wrong =
      "Authorization: Basic " + absl::Base64Escape("prometheus:nope") + "\r\n";
  SW_ASSERT_OK_AND_ASSIGN(HttpResponse denied, HttpGet(server->port(), "/metrics", wrong));
  EXPECT_EQ(denied.status, 401);

  const std::string right =
      "Authorization: Basic " + absl::Base64Escape("prometheus:s3cret") + "\r\n";
  SW_ASSERT_OK_AND_ASSIGN(HttpResponse allowed, HttpGet(server->port(), "/metrics", right));
  EXPECT_EQ(allowed.status, 200);
  EXPECT_THAT(allowed.body, HasSubstr("process_cpu_seconds_total"));

  SW_ASSERT_OK_AND_ASSIGN(HttpResponse live, HttpGet(server->port(), "/healthz"));
  EXPECT_EQ(live.status, 200);
}

TEST(MetricsServer, FailsCleanlyWhenThePortIsTaken) {
  SW_ASSERT_OK_AND_ASSIGN(std::unique_ptr<MetricsServer> first,
                          MetricsServer::Create(AnyPort(), {}, nullptr));
  ServerOptions same = AnyPort();
  same.listen_address = "127.0.0.1:" + std::to_string(first->port());
  absl::StatusOr<std::unique_ptr<MetricsServer>> second = MetricsServer::Create(same, {}, nullptr);
  EXPECT_THAT(second.status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot listen")));
}

// Opens a TCP connection to 127.0.0.1:`port` and returns its descriptor (-1 on failure). Reads
// on it give up after 10 s.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A port scanner or a stuck scraper (connects, sends nothing) and a slowloris client (sends
// the request a few bytes at a time and never finishes it) each hold a civetweb thread while
// their connection is open. Twenty of each must not keep kubelet's probes or Prometheus' scrape
// from being answered, and the server must end them once request_timeout_ms has passed.
TEST(MetricsServer, ProbesAndScrapesAreAnsweredBesideIdleAndSlowConnections) {
  pipeline::Stats stats(/*num_workers=*/1);
  ServerOptions options = AnyPort();
  options.request_timeout_ms = 1000;  // shorter than the default so the test ends sooner
  SW_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<MetricsServer> server,
      MetricsServer::Create(options, {std::make_shared<ProcessCollector>()},
                            std::make_shared<HealthChecker>(&stats, HealthOptions{})));
  std::vector<int> idle;
  std::vector<int> slow;
  for (int i = 0; i < 20; ++i) {
    idle.push_back(Connect(server->port()));
    slow.push_back(Connect(server->port()));
    ASSERT_GE(idle.back(), 0);
    ASSERT_GE(slow.back(), 0);
    const char partial[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    ASSERT_EQ(send(slow.back(), partial, sizeof(partial) - 1, 0),
              static_cast<ssize_t>(sizeof(partial) - 1));
  }
  // Every probe and scrape gets its answer while the 40 connections are open (HttpGet fails
  // after 10 s without one; with civetweb's defaults of 2 threads and 30 s this failed).
  for (int round = 0; round < 3; ++round) {
    for (int fd : slow) (void)send(fd, "a", 1, MSG_NOSIGNAL);  // keep trickling
    SW_ASSERT_OK_AND_ASSIGN(HttpResponse live, HttpGet(server->port(), "/healthz"));
    EXPECT_EQ(live.status, 200);
    SW_ASSERT_OK_AND_ASSIGN(HttpResponse ready, HttpGet(server->port(), "/readyz"));
    EXPECT_EQ(ready.status, 503);  // nothing loaded: the probe answers, with the truth
    SW_ASSERT_OK_AND_ASSIGN(HttpResponse metrics, HttpGet(server->port(), "/metrics"));
    EXPECT_EQ(metrics.status, 200);
  }
  // The server ends both kinds once their request time is up: a read sees the close (0) or
  // a reset, never the 10 s receive timeout.
  for (const std::vector<int>* group : {&idle, &slow}) {
    for (int fd : *group) {
      char byte;
      ssize_t n;
      do {
        n = recv(fd, &byte, 1, 0);  // an error page may come first: read to the end
      } while (n > 0);
      EXPECT_TRUE(n == 0 || errno == ECONNRESET) << "errno " << errno;
      close(fd);
    }
  }
}

TEST(MetricsServer, RejectsHalfConfiguredAuth) {
  ServerOptions options = AnyPort();
  options.basic_auth_user = "prometheus";
  EXPECT_THAT(MetricsServer::Create(options, {}, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("basic auth")));
}

}  // namespace
}  // namespace steppewatch::metrics

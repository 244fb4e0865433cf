#include "steppewatch/metrics/metrics_server.h"

#include <memory>

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

TEST(MetricsServer, RejectsHalfConfiguredAuth) {
  ServerOptions options = AnyPort();
  options.basic_auth_user = "prometheus";
  EXPECT_THAT(MetricsServer::Create(options, {}, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("basic auth")));
}

}  // namespace
}  // namespace steppewatch::metrics

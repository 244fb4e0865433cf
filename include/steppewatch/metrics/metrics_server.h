// MetricsServer: the daemon's HTTP endpoint for Prometheus and Kubernetes.
//   GET /metrics  the Prometheus text exposition, built at scrape time by Collectables that read
//                 the pipeline's lock-free counters (the hot path never calls prometheus-cpp);
//                 optionally behind HTTP basic auth.
//   GET /healthz  liveness  (200 "ok" / 503 with the reason), see health.h for the meaning.
//   GET /readyz   readiness (200 "ok" / 503 with the reason).
// The probes never need credentials: kubelet cannot send them, and they reveal nothing.
//
// Built on prometheus-cpp's Exposer (civetweb). The Exposer takes no extra URI handlers and its
// begin_request callback has no user pointer, so the probes find their HealthChecker in a
// process-wide table keyed by the listening port (one lookup under a mutex per probe request,
// never on the data path). Connections are not kept alive: one request per connection, so a
// client cannot keep a thread by reusing its connection slowly.
//
// The daemon normally starts it through StartMetricsServer() (metrics.h), which wires the
// steppewatch collectors and the HealthChecker to a pipeline::Stats.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "steppewatch/metrics/health.h"

namespace prometheus {
class Exposer;
}

namespace steppewatch::metrics {

struct ServerOptions {
  // host:port to listen on. Loopback by default: the metrics and probe endpoints are for the
  // local Prometheus agent and kubelet; open it explicitly ("0.0.0.0:9464") in a pod.
  // 9464 is the port registered for Prometheus exporters of this kind; port 0 picks a free one.
  std::string listen_address = "127.0.0.1:9464";
  // HTTP worker threads. civetweb gives each connection a thread for as long as it is open, and
  // a client that connects and sends nothing (a port scanner, a stuck scraper, a slowloris)
  // holds its thread until request_timeout_ms: with 2 threads, two such connections starved
  // the probes (kubelet then restarts a healthy pod). 32 threads keep probes and scrapes
  // answered beside 20 such connections (tests/metrics checks it with real sockets); an idle
  // thread costs a stack mapping, not work.
  int http_threads = 32;
  // Longest time one request may take to arrive in full (civetweb's request_timeout_ms; its
  // default is 30 s): bounds how long an idle or trickling connection holds a thread. kubelet
  // and Prometheus send their whole request at once, so 5 s refuses none of them; it also
  // bounds each send of the response to a reader that does not read.
  int request_timeout_ms = 5000;
  // When both are set, /metrics requires HTTP basic auth with these credentials (compared in
  // constant time). Plain HTTP: only worth it on a network you trust to carry the password.
  std::string basic_auth_user;
  std::string basic_auth_password;
};

// Owns the HTTP server, its collectables and its health checker. Thread-safe: serves from its own
// threads until destroyed; the destructor stops serving before it releases what it owns.
class MetricsServer {
 public:
  // Starts serving `collectables` on /metrics and `health` on /healthz and /readyz (health may be
  // null: then both probes answer 200). Fails when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Create(
      const ServerOptions& options,
      std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
      std::shared_ptr<const HealthChecker> health);

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Returns the bound port (the chosen one when listen_address had port 0).
  int port() const { return port_; }

 private:
  MetricsServer() = default;

  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::shared_ptr<const HealthChecker> health_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::vector<int> ports_;
  int port_ = 0;
};

}  // namespace steppewatch::metrics

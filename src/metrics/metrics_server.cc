#include "steppewatch/metrics/metrics_server.h"

#include <CivetServer.h>
#include <civetweb.h>

#include <cstring>
#include <exception>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"
#include "steppewatch/common/mutex.h"

namespace steppewatch::metrics {
namespace {

// The probes' view of the servers of this process: listening port -> (owner, health).
struct ProbeTarget {
  const MetricsServer* owner = nullptr;
  const HealthChecker* health = nullptr;  // null: always healthy and ready
};

struct ProbeRegistry {
  Mutex mu;
  absl::flat_hash_map<int, ProbeTarget> by_port ABSL_GUARDED_BY(mu);
};

ProbeRegistry& Registry() {
  // Leaked on purpose: HTTP threads of a server destroyed during exit may still look it up.
  static ProbeRegistry* const registry = new ProbeRegistry();
  return *registry;
}

void SendPlain(mg_connection* conn, int status, std::string_view body) {
  const char* text = status == 200 ? "OK" : "Service Unavailable";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Cache-Control: no-store\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            status, text, body.size() + 1);
  mg_write(conn, body.data(), body.size());
  mg_write(conn, "\n", 1);
}

// civetweb's begin_request: answers /healthz and /readyz, passes everything else (returns 0) to
// the Exposer's handlers. Returns the HTTP status when it answered.
int BeginRequest(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  if (info == nullptr || info->local_uri == nullptr) return 0;
  const std::string_view uri = info->local_uri;
  const bool live = uri == "/healthz";
  if (!live && uri != "/readyz") return 0;

  Verdict verdict;
  {
    ProbeRegistry& registry = Registry();
    MutexLock lock(&registry.mu);
    auto it = registry.by_port.find(info->server_port);
    if (it == registry.by_port.end()) {
      verdict = {false, "starting"};  // between bind and registration, or during shutdown
    } else if (it->second.health == nullptr) {
      verdict = {true, "ok"};
    } else {
      // Evaluated under the lock so ~MetricsServer cannot free the state mid-probe.
      verdict = live ? it->second.health->Liveness() : it->second.health->Readiness();
    }
  }
  const int status = verdict.ok ? 200 : 503;
  SendPlain(conn, status, verdict.reason);
  return status;
}

// Compares in time independent of where the strings differ (length still leaks, which is fine).
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Create(
    const ServerOptions& options,
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
    std::shared_ptr<const HealthChecker> health) {
  if (options.listen_address.empty()) {
    return absl::InvalidArgumentError("metrics listen address is empty");
  }
  if (options.http_threads < 1) {
    return absl::InvalidArgumentError("metrics http_threads must be at least 1");
  }
  if (options.request_timeout_ms < 1) {
    return absl::InvalidArgumentError("metrics request_timeout_ms must be at least 1");
  }
  if (options.basic_auth_user.empty() != options.basic_auth_password.empty()) {
    return absl::InvalidArgumentError(
        "metrics basic auth needs both a user and a password (or neither)");
  }

  // Static: civetweb keeps the pointer for the server's lifetime; the callback is stateless.
  static const CivetCallbacks* const callbacks = [] {
    auto* cb = new CivetCallbacks();
    cb->begin_request = &BeginRequest;
    return cb;
  }();

  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->collectables_ = std::move(collectables);
  server->health_ = std::move(health);
  try {
    // civetweb throws CivetException when it cannot bind; this is start-up, not the data path.
    server->exposer_ = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", options.listen_address, "num_threads",
                                 std::to_string(options.http_threads), "request_timeout_ms",
                                 std::to_string(options.request_timeout_ms), "enable_keep_alive",
                                 "no"},
        callbacks);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics server cannot listen on '", options.listen_address, "': ", e.what()));
  }
  for (const auto& collectable : server->collectables_) {
    server->exposer_->RegisterCollectable(collectable);
  }
  if (!options.basic_auth_user.empty()) {
    server->exposer_->RegisterAuth(
        [user = options.basic_auth_user, password = options.basic_auth_password](
            const std::string& given_user, const std::string& given_password) {
          // Both compared, always, so timing does not tell which one was wrong.
          const bool user_ok = ConstantTimeEquals(given_user, user);
          const bool password_ok = ConstantTimeEquals(given_password, password);
          return user_ok && password_ok;
        },
        "steppewatch");
  }
  server->ports_ = server->exposer_->GetListeningPorts();
  if (server->ports_.empty()) {
    return absl::UnavailableError(
        absl::StrCat("metrics server has no listening port for '", options.listen_address, "'"));
  }
  server->port_ = server->ports_.front();
  {
    ProbeRegistry& registry = Registry();
    MutexLock lock(&registry.mu);
    for (int port : server->ports_) registry.by_port[port] = {server.get(), server->health_.get()};
  }
  return server;
}

MetricsServer::~MetricsServer() {
  {
    ProbeRegistry& registry = Registry();
    MutexLock lock(&registry.mu);
    for (int port : ports_) {
      auto it = registry.by_port.find(port);
      if (it != registry.by_port.end() && it->second.owner == this) registry.by_port.erase(it);
    }
  }
  exposer_.reset();  // joins the HTTP threads before the collectables go
}

}  // namespace steppewatch::metrics

// Pre-flight checks of a loaded configuration against the machine (see daemon_config.h).
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "config/internal.h"
#include "steppewatch/config/daemon_config.h"

namespace steppewatch::config {
namespace {

// Below this much free space a compiled pack (tens of MB for a large pack) may not fit.
constexpr uint64_t kMinCacheFreeBytes = uint64_t{64} << 20;

std::string WithOrigin(const Origins& origins, const std::string& key) {
  auto it = origins.find(key);
  return it == origins.end() ? key : Cat(it->second, ": ", key);
}

// Binds (and closes) a socket on the metrics address, as the metrics server will.
void CheckListen(const DaemonConfig& c, const Origins& origins, PreflightReport* out) {
  std::string host;
  int port = 0;
  if (!ParseListen(c.metrics.listen, &host, &port)) return;  // ValidateConfig reported it
  const std::string where = WithOrigin(origins, "metrics.listen");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    out->errors.push_back(Cat(where, ": cannot resolve '", host, "': ", gai_strerror(rc)));
    return;
  }
  std::string error;
  bool bound = false;
  for (addrinfo* a = found; a != nullptr && !bound; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    // As the HTTP server does: a port held only by TIME_WAIT connections is free to use.
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0) {
      bound = true;
    } else {
      error = errno == EADDRINUSE ? "the address is in use (another process listens there)"
                                  : std::strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(found);
  if (!bound)
    out->errors.push_back(Cat(where, ": cannot listen on ", c.metrics.listen, ": ", error));
}

// The cache only saves start-up time, so its problems are warnings: the daemon compiles the
// pack without it.
void CheckCacheDir(const DaemonConfig& c, const Origins& origins, PreflightReport* out) {
  const std::string& dir = c.rules.cache_dir;
  const std::string where = WithOrigin(origins, "rules.cache_dir");
  const std::string consequence = "; the rule pack will be compiled on every start";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    out->warnings.push_back(Cat(where, ": cannot create ", dir, ": ", ec.message(), consequence));
    out->cache_usable = false;
    return;
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    out->warnings.push_back(Cat(where, ": ", dir, " is not a directory", consequence));
    out->cache_usable = false;
    return;
  }
  std::string probe = Cat(dir, "/.steppewatch-write-test-XXXXXX");
  const int fd = mkstemp(probe.data());
  if (fd < 0) {
    out->warnings.push_back(
        Cat(where, ": cannot write in ", dir, ": ", std::strerror(errno), consequence));
    out->cache_usable = false;
    return;
  }
  close(fd);
  unlink(probe.c_str());
  if (st.st_uid != geteuid()) {
    // Writable but someone else's (e.g. root running a unit meant for the steppewatch user):
    // the files written now cannot be replaced by the rightful owner later.
    out->warnings.push_back(Cat(where, ": ", dir, " is owned by uid ", std::to_string(st.st_uid),
                                ", not by this process (uid ", std::to_string(geteuid()),
                                "); cache files written now may not be replaceable later"));
  }
  struct statvfs fs;
  if (statvfs(dir.c_str(), &fs) == 0) {
    const uint64_t free_bytes = uint64_t{fs.f_bavail} * fs.f_frsize;
    if (free_bytes < kMinCacheFreeBytes) {
      out->warnings.push_back(Cat(where, ": only ", std::to_string(free_bytes >> 20),
                                  " MiB free in ", dir, "; a compiled pack may not fit"));
    }
  }
}

// Connects to `host:port` within `timeout_ms`; returns an empty string or why not.
std::string TryConnect(const std::string& host, const std::string& port, int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Cat("cannot resolve '", host, "': ", gai_strerror(rc));
  }
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, timeout_ms) == 1 ? 0 : -1;
      int so_error = rc == 0 ? 0 : ETIMEDOUT;
      socklen_t len = sizeof(so_error);
      if (rc == 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      errno = so_error;
      rc = so_error == 0 ? 0 : -1;
    }
    if (rc == 0) {
      close(fd);
      freeaddrinfo(found);
      return {};
    }
    error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(found);
  return error;
}

// A warning, not an error: the daemon starts without brokers and consumes once they are back;
// but a broker list that reaches nothing from here is worth saying before a deploy.
void CheckBrokers(const DaemonConfig& c, const Origins& origins, PreflightReport* out) {
  if (c.kafka.brokers == "embedded") return;
  std::vector<std::string> problems;
  size_t reachable = 0;
  for (std::string broker : SplitList(c.kafka.brokers)) {
    if (size_t scheme = broker.find("://"); scheme != std::string::npos) {
      broker = broker.substr(scheme + 3);
    }
    std::string host = broker, port = "9092";
    if (!broker.empty() && broker.front() == '[') {  // [v6]:port
      const size_t close = broker.find(']');
      host = broker.substr(1, close == std::string::npos ? std::string::npos : close - 1);
      if (close != std::string::npos && broker.compare(close + 1, 1, ":") == 0) {
        port = broker.substr(close + 2);
      }
    } else if (const size_t colon = broker.find(':');
               colon != std::string::npos && colon == broker.rfind(':')) {
      host = broker.substr(0, colon);
      port = broker.substr(colon + 1);
    }
    // 2 s per broker: a connect to a live broker takes milliseconds, even across regions.
    const std::string error = TryConnect(host, port, 2000);
    if (error.empty()) {
      ++reachable;
    } else {
      problems.push_back(Cat(broker, ": ", error));
    }
  }
  if (reachable == 0 && !problems.empty()) {
    out->warnings.push_back(Cat(WithOrigin(origins, "kafka.brokers"),
                                ": no broker reachable from here (", Join(problems, "; "),
                                "); the daemon would start and wait for them"));
  }
}

}  // namespace

PreflightReport Preflight(const DaemonConfig& config, const Origins& origins,
                          const PreflightOptions& options) {
  PreflightReport report;
  CheckKafkaClients(config, origins, &report);
  if (options.check_listen && !config.metrics.listen.empty()) CheckListen(config, origins, &report);
  CheckCacheDir(config, origins, &report);
  if (options.check_brokers) CheckBrokers(config, origins, &report);
  return report;
}

}  // namespace steppewatch::config

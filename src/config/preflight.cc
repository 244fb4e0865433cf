// Pre-flight checks of a loaded configuration against the machine (see daemon_config.h).
#include <netdb.h>
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

}  // namespace

PreflightReport Preflight(const DaemonConfig& config, const Origins& origins,
                          const PreflightOptions& options) {
  PreflightReport report;
  CheckKafkaClients(config, origins, &report);
  if (options.check_listen && !config.metrics.listen.empty()) CheckListen(config, origins, &report);
  CheckCacheDir(config, origins, &report);
  return report;
}

}  // namespace steppewatch::config

#include "steppewatch/daemon/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace steppewatch::daemon {
namespace {

// Returns `status` made safe for one STATUS= line.
std::string OneLine(std::string_view status) {
  std::string line(status);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

// Returns the socket address as systemd writes it: '@' for the abstract namespace's NUL.
std::string DisplayAddress(const std::string& address) {
  if (address.empty() || address[0] != '\0') return address;
  return absl::StrCat("@", address.substr(1));
}

uint64_t MonotonicUsec() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

SystemdNotifierOptions SystemdNotifierOptions::FromEnvironment() {
  SystemdNotifierOptions options;
  if (const char* socket = std::getenv("NOTIFY_SOCKET"); socket != nullptr) {
    options.notify_socket = socket;
  }
  if (const char* usec = std::getenv("WATCHDOG_USEC"); usec != nullptr) {
    if (!absl::SimpleAtoi(usec, &options.watchdog_usec)) options.watchdog_usec = 0;
  }
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid != nullptr) {
    int value = 0;
    options.watchdog_pid = absl::SimpleAtoi(pid, &value) ? value : 0;
  }
  return options;
}

absl::StatusOr<std::unique_ptr<SystemdNotifier>> SystemdNotifier::Create(
    const SystemdNotifierOptions& options) {
  std::optional<absl::Duration> interval;
  const bool watchdog_is_ours = options.watchdog_pid == 0 || options.watchdog_pid == getpid();
  if (options.watchdog_usec > 0 && watchdog_is_ours) {
    interval = absl::Microseconds(options.watchdog_usec) / 2;
  }
  if (options.notify_socket.empty()) {
    return std::unique_ptr<SystemdNotifier>(new SystemdNotifier(-1, "", std::nullopt));
  }
  std::string address = options.notify_socket;
  if (address[0] == '@') {
    address[0] = '\0';  // Linux abstract namespace: a leading NUL, not an '@'.
  } else if (address[0] != '/') {
    // systemd 252 also knows "vsock:" addresses for VMs; a daemon in a VM is not our deployment.
    return absl::InvalidArgumentError(
        absl::StrCat("NOTIFY_SOCKET must be an absolute path or an @abstract name, got '",
                     options.notify_socket, "'"));
  }
  if (address.size() > sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("NOTIFY_SOCKET is longer than ", sizeof(sockaddr_un::sun_path), " bytes"));
  }
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("socket(AF_UNIX, SOCK_DGRAM): ", strerror(errno)));
  }
  return std::unique_ptr<SystemdNotifier>(new SystemdNotifier(fd, std::move(address), interval));
}

SystemdNotifier::SystemdNotifier(int fd, std::string address,
                                 std::optional<absl::Duration> watchdog_interval)
    : fd_(fd), address_(std::move(address)), watchdog_interval_(watchdog_interval) {}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) close(fd_);
}

absl::Status SystemdNotifier::Send(std::string_view message) {
  if (fd_ < 0) return absl::OkStatus();
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, address_.data(), address_.size());
  // Abstract names are length-delimited (no terminating NUL); paths get one from the zeroed sa.
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                               (address_[0] == '\0' ? 0 : 1));
  ssize_t sent;
  do {
    // MSG_NOSIGNAL: a vanished manager must not SIGPIPE the daemon; MSG_DONTWAIT: never block the
    // main loop on a full socket buffer (systemd drains it; a lost WATCHDOG is retried next turn).
    sent = sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                  reinterpret_cast<const sockaddr*>(&sa), len);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    return absl::UnavailableError(
        absl::StrCat("sd_notify to ", DisplayAddress(address_), ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status SystemdNotifier::Ready(std::string_view status) {
  return Send(absl::StrCat("READY=1\nSTATUS=", OneLine(status)));
}

absl::Status SystemdNotifier::Reloading(std::string_view status) {
  return Send(
      absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", MonotonicUsec(), "\nSTATUS=", OneLine(status)));
}

absl::Status SystemdNotifier::Stopping(std::string_view status) {
  return Send(absl::StrCat("STOPPING=1\nSTATUS=", OneLine(status)));
}

absl::Status SystemdNotifier::Status(std::string_view status) {
  return Send(absl::StrCat("STATUS=", OneLine(status)));
}

absl::Status SystemdNotifier::KickWatchdog() {
  last_kick_unix_nanos_.store(absl::ToUnixNanos(absl::Now()), std::memory_order_relaxed);
  return Send("WATCHDOG=1");
}

absl::Status SystemdNotifier::KickWatchdogIfDue(absl::Time now) {
  if (fd_ < 0 || !watchdog_interval_.has_value()) return absl::OkStatus();
  const int64_t last = last_kick_unix_nanos_.load(std::memory_order_relaxed);
  if (now - absl::FromUnixNanos(last) < *watchdog_interval_) return absl::OkStatus();
  last_kick_unix_nanos_.store(absl::ToUnixNanos(now), std::memory_order_relaxed);
  return Send("WATCHDOG=1");
}

absl::Status SystemdNotifier::ExtendTimeout(absl::Duration extra) {
  return Send(absl::StrCat("EXTEND_TIMEOUT_USEC=", absl::ToInt64Microseconds(extra)));
}

}  // namespace steppewatch::daemon

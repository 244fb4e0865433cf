// SystemdNotifier: the service manager's readiness protocol (sd_notify(3)) spoken directly: one
// datagram of "KEY=VALUE\n" lines to the AF_UNIX socket named by $NOTIFY_SOCKET. Written here
// rather than linked from libsystemd so the daemon behaves the same with or without it, so a
// failed send is an absl::Status the caller can log, and so tests can aim it at their own socket
// without touching the process environment.
//
// What the daemon sends, and when (systemd 252 has no Type=notify-reload, so the reload dance is
// ours; systemd 253+ wants MONOTONIC_USEC beside RELOADING=1 and 252 ignores it):
//   startup done          Ready("...")          READY=1 + STATUS=
//   reload starts         Reloading("...")      RELOADING=1 + MONOTONIC_USEC= + STATUS=
//   reload done (any)     Ready("...")          READY=1 + STATUS=
//   drain starts          Stopping("...")       STOPPING=1 + STATUS=
//   main loop, each turn  KickWatchdogIfDue()   WATCHDOG=1 every WATCHDOG_USEC/2
//   slow startup          ExtendTimeout(d)      EXTEND_TIMEOUT_USEC= (a big pack compiles slowly)
//
// When $NOTIFY_SOCKET is unset (not under systemd: a shell, a container) the notifier is disabled
// and every call is a successful no-op, so callers never branch on "am I under systemd".
//
// Threading: thread-safe. The socket is created once in Create() and only sendmsg()'d afterwards
// (one datagram is atomic); the watchdog's last-kick time is an atomic. The reloader thread sends
// RELOADING/READY while the main loop sends WATCHDOG, concurrently.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace steppewatch::daemon {

struct SystemdNotifierOptions {
  // The notify socket: an absolute path, or "@name" for the Linux abstract namespace. Empty
  // disables the notifier.
  std::string notify_socket;
  // $WATCHDOG_USEC: the watchdog timeout systemd enforces (WatchdogSec=); 0 = no watchdog.
  uint64_t watchdog_usec = 0;
  // $WATCHDOG_PID: when set and not our pid, the watchdog belongs to another process (e.g. a
  // wrapper script) and is disabled here; 0 = unset.
  pid_t watchdog_pid = 0;

  // Returns the options that systemd passes in the environment ($NOTIFY_SOCKET, $WATCHDOG_USEC,
  // $WATCHDOG_PID). Malformed numbers read as 0 (no watchdog) rather than failing the start:
  // the unit file, not the daemon, is where that misconfiguration must be fixed.
  static SystemdNotifierOptions FromEnvironment();
};

// Owned by the daemon; outlives the reloader and the main loop that call it.
class SystemdNotifier {
 public:
  // Validates the socket address and opens the datagram socket. Fails on an address that is
  // neither absolute nor abstract, or too long for sockaddr_un.
  static absl::StatusOr<std::unique_ptr<SystemdNotifier>> Create(
      const SystemdNotifierOptions& options);

  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // Returns true when a notify socket is configured.
  bool enabled() const { return fd_ >= 0; }

  // Returns the period at which to send WATCHDOG=1 (half the timeout, as sd_watchdog_enabled(3)
  // advises, so one late loop turn is not a kill), or nullopt when the watchdog is off.
  std::optional<absl::Duration> watchdog_interval() const { return watchdog_interval_; }

  // Sends READY=1 (startup finished, or a reload finished whatever its result) with a status.
  absl::Status Ready(std::string_view status);
  // Sends RELOADING=1 with MONOTONIC_USEC=<now on CLOCK_MONOTONIC> and a status.
  absl::Status Reloading(std::string_view status);
  // Sends STOPPING=1 with a status: the drain has begun.
  absl::Status Stopping(std::string_view status);
  // Sends only STATUS= (shown by `systemctl status`).
  absl::Status Status(std::string_view status);
  // Sends WATCHDOG=1 now and records the time.
  absl::Status KickWatchdog();
  // Sends WATCHDOG=1 when the watchdog is on and an interval has passed since the last kick;
  // cheap otherwise (one clock read and one atomic load). Call it from the main loop, not from a
  // helper thread: the point of the watchdog is that the loop itself is alive.
  absl::Status KickWatchdogIfDue(absl::Time now = absl::Now());
  // Sends EXTEND_TIMEOUT_USEC=: asks systemd to wait `extra` longer for the current
  // start/reload/stop phase (e.g. while a large pack compiles at startup).
  absl::Status ExtendTimeout(absl::Duration extra);

  // Sends `message` as one datagram verbatim (lines "KEY=VALUE" separated by '\n'). Newlines in a
  // status text are replaced by spaces by the helpers above, since a newline would start a new,
  // unintended assignment.
  absl::Status Send(std::string_view message);

 private:
  SystemdNotifier(int fd, std::string address, std::optional<absl::Duration> watchdog_interval);

  const int fd_;               // -1 when disabled.
  const std::string address_;  // sockaddr_un sun_path bytes ('\0'-led when abstract).
  const std::optional<absl::Duration> watchdog_interval_;
  std::atomic<int64_t> last_kick_unix_nanos_{0};
};

}  // namespace steppewatch::daemon

// Tests SystemdNotifier against a real AF_UNIX datagram socket standing in for systemd's notify
// socket: the protocol is the socket, its address forms and the bytes of each datagram.
#include "steppewatch/daemon/systemd_notify.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

namespace steppewatch::daemon {
namespace {

using ::steppewatch::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A bound datagram socket that receives what the notifier sends, as systemd's would.
class NotifyListener {
 public:
  // Binds to `address` ('@name' for the abstract namespace, else a path).
  explicit NotifyListener(const std::string& address) : address_(address) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0) << strerror(errno);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, address.data(), address.size());
    if (address[0] == '@') sa.sun_path[0] = '\0';
    const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() +
                                                 (address[0] == '@' ? 0 : 1));
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&sa), len), 0) << strerror(errno);
  }
  ~NotifyListener() {
    close(fd_);
    if (address_[0] == '/') unlink(address_.c_str());
  }

  // Returns the next datagram, or nullopt when none arrives within 5 s (a generous bound for a
  // loaded 2-core machine; the send has already happened when this is called).
  std::optional<std::string> Receive() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return std::nullopt;
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

  // Returns true when a datagram is waiting right now.
  bool HasPending() {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }

 private:
  std::string address_;
  int fd_ = -1;
};

std::unique_ptr<SystemdNotifier> MakeNotifier(const SystemdNotifierOptions& options) {
  auto notifier = SystemdNotifier::Create(options);
  EXPECT_THAT(notifier.status(), IsOk());
  return notifier.ok() ? *std::move(notifier) : nullptr;
}

std::string SocketPath() {
  return (steppewatch::testing::MakeTempDir("sw-notify") / "notify.sock").string();
}

TEST(SystemdNotifier, IsANoOpWithoutNotifySocket) {
  auto notifier = MakeNotifier({});
  ASSERT_NE(notifier, nullptr);
  EXPECT_FALSE(notifier->enabled());
  EXPECT_THAT(notifier->Ready("up"), IsOk());
  EXPECT_THAT(notifier->KickWatchdogIfDue(), IsOk());
  EXPECT_FALSE(notifier->watchdog_interval().has_value());
}

TEST(SystemdNotifier, SendsReadyWithStatusToPathSocket) {
  const std::string path = SocketPath();
  NotifyListener listener(path);
  auto notifier = MakeNotifier({.notify_socket = path});
  ASSERT_NE(notifier, nullptr);
  EXPECT_TRUE(notifier->enabled());
  ASSERT_THAT(notifier->Ready("consuming news.items; pack central-asia"), IsOk());
  EXPECT_EQ(listener.Receive(), "READY=1\nSTATUS=consuming news.items; pack central-asia");
}

TEST(SystemdNotifier, SendsToAbstractNamespaceSocket) {
  const std::string name = absl::StrCat("@steppewatch-test-", getpid(), "-", rand());
  NotifyListener listener(name);
  auto notifier = MakeNotifier({.notify_socket = name});
  ASSERT_NE(notifier, nullptr);
  ASSERT_THAT(notifier->Stopping("draining"), IsOk());
  EXPECT_EQ(listener.Receive(), "STOPPING=1\nSTATUS=draining");
}

TEST(SystemdNotifier, ReloadingCarriesCurrentMonotonicTime) {
  const std::string path = SocketPath();
  NotifyListener listener(path);
  auto notifier = MakeNotifier({.notify_socket = path});
  ASSERT_NE(notifier, nullptr);
  timespec before, after;
  clock_gettime(CLOCK_MONOTONIC, &before);
  ASSERT_THAT(notifier->Reloading("reloading rules"), IsOk());
  clock_gettime(CLOCK_MONOTONIC, &after);
  const std::optional<std::string> got = listener.Receive();
  ASSERT_TRUE(got.has_value());
  std::vector<std::string> lines = absl::StrSplit(*got, '\n');
  ASSERT_EQ(lines.size(), 3u) << *got;
  EXPECT_EQ(lines[0], "RELOADING=1");
  ASSERT_THAT(lines[1], StartsWith("MONOTONIC_USEC="));
  uint64_t usec = 0;
  ASSERT_TRUE(absl::SimpleAtoi(lines[1].substr(strlen("MONOTONIC_USEC=")), &usec)) << lines[1];
  const auto to_usec = [](const timespec& ts) {
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
  };
  EXPECT_GE(usec, to_usec(before));
  EXPECT_LE(usec, to_usec(after));
  EXPECT_EQ(lines[2], "STATUS=reloading rules");
}

TEST(SystemdNotifier, FlattensNewlinesInStatusSoTheyCannotInjectAssignments) {
  const std::string path = SocketPath();
  NotifyListener listener(path);
  auto notifier = MakeNotifier({.notify_socket = path});
  ASSERT_NE(notifier, nullptr);
  ASSERT_THAT(notifier->Status("rules.yaml:3: bad\nREADY=1"), IsOk());
  EXPECT_EQ(listener.Receive(), "STATUS=rules.yaml:3: bad READY=1");
}

TEST(SystemdNotifier, KicksWatchdogAtHalfTheTimeout) {
  const std::string path = SocketPath();
  NotifyListener listener(path);
  auto notifier = MakeNotifier({.notify_socket = path, .watchdog_usec = 30'000'000});
  ASSERT_NE(notifier, nullptr);
  ASSERT_EQ(notifier->watchdog_interval(), absl::Seconds(15));

  const absl::Time t0 = absl::Now();
  ASSERT_THAT(notifier->KickWatchdogIfDue(t0), IsOk());  // Never kicked: due at once.
  EXPECT_EQ(listener.Receive(), "WATCHDOG=1");
  ASSERT_THAT(notifier->KickWatchdogIfDue(t0 + absl::Seconds(14)), IsOk());
  EXPECT_FALSE(listener.HasPending()) << "kicked before the interval passed";
  ASSERT_THAT(notifier->KickWatchdogIfDue(t0 + absl::Seconds(15)), IsOk());
  EXPECT_EQ(listener.Receive(), "WATCHDOG=1");
}

TEST(SystemdNotifier, LeavesWatchdogToTheProcessNamedByWatchdogPid) {
  auto notifier = MakeNotifier(
      {.notify_socket = SocketPath(), .watchdog_usec = 30'000'000, .watchdog_pid = getpid() + 1});
  ASSERT_NE(notifier, nullptr);
  EXPECT_FALSE(notifier->watchdog_interval().has_value());
}

TEST(SystemdNotifier, ExtendTimeoutSendsMicroseconds) {
  const std::string path = SocketPath();
  NotifyListener listener(path);
  auto notifier = MakeNotifier({.notify_socket = path});
  ASSERT_NE(notifier, nullptr);
  ASSERT_THAT(notifier->ExtendTimeout(absl::Seconds(90)), IsOk());
  EXPECT_EQ(listener.Receive(), "EXTEND_TIMEOUT_USEC=90000000");
}

TEST(SystemdNotifier, RejectsRelativeSocketAddress) {
  auto notifier = SystemdNotifier::Create({.notify_socket = "run/notify"});
  EXPECT_EQ(notifier.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SystemdNotifier, ReportsSendFailureWhenNobodyListens) {
  const std::string path = SocketPath();  // Nothing bound there.
  auto notifier = MakeNotifier({.notify_socket = path});
  ASSERT_NE(notifier, nullptr);
  const absl::Status status = notifier->Ready("up");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr(path));
}

TEST(SystemdNotifierOptions, ReadsSystemdEnvironment) {
  setenv("NOTIFY_SOCKET", "@sw-env-test", 1);
  setenv("WATCHDOG_USEC", "20000000", 1);
  setenv("WATCHDOG_PID", absl::StrCat(getpid()).c_str(), 1);
  const SystemdNotifierOptions options = SystemdNotifierOptions::FromEnvironment();
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  EXPECT_EQ(options.notify_socket, "@sw-env-test");
  EXPECT_EQ(options.watchdog_usec, 20'000'000u);
  EXPECT_EQ(options.watchdog_pid, getpid());
}

}  // namespace
}  // namespace steppewatch::daemon

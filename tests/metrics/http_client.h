// A minimal HTTP/1.0 GET over a loopback TCP socket, for the metrics server tests: enough to see
// the status, the headers and the body exactly as Prometheus or kubelet would receive them.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace steppewatch::metrics::test_http {

struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string body;
};

// GETs `path` from 127.0.0.1:`port`, with `extra_headers` ("Name: value\r\n" lines) added.
inline absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path,
                                            const std::string& extra_headers = "") {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  // A stuck server fails the test after 10 s instead of hanging it until ctest's timeout.
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port, " failed"));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n", extra_headers, "\r\n");
  if (send(fd, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("send failed");
  }
  std::string raw;
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0) {
      close(fd);
      return absl::DeadlineExceededError("recv failed or timed out");
    }
    if (n == 0) break;
    raw.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const size_t end_of_headers = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end_of_headers == std::string::npos || raw.size() < 12) {
    return absl::DataLossError(absl::StrCat("not an HTTP response: ", raw.substr(0, 200)));
  }
  HttpResponse response;
  if (!absl::SimpleAtoi(absl::string_view(raw).substr(9, 3), &response.status)) {
    return absl::DataLossError("bad status line");
  }
  response.headers = raw.substr(0, end_of_headers);
  response.body = raw.substr(end_of_headers + 4);
  return response;
}

}  // namespace steppewatch::metrics::test_http

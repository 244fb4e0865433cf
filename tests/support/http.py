"""HTTP probes and Prometheus exposition samples, as an operator's script reads them."""
import socket
import urllib.error
import urllib.request


def free_port():
  """Returns a loopback port that was free a moment ago (bind 0, read, close).

  A daemon given port 0 picks its own port and logs it (LoggedProcess.metrics_url reads it);
  a port chosen here can race with another process only between close and the daemon's bind.
  """
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def http_get(url, timeout=5):
  """Returns (status, body) of GET `url`; status 0 when nothing answers."""
  try:
    with urllib.request.urlopen(url, timeout=timeout) as response:
      return response.status, response.read().decode("utf-8", "replace")
  except urllib.error.HTTPError as e:
    return e.code, e.read().decode("utf-8", "replace")
  except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError):
    return 0, ""


def metrics_sum(text, name):
  """Returns the sum of every sample of metric `name` in exposition `text` (None if absent)."""
  total = None
  for line in text.splitlines():
    if line.startswith("#"):
      continue
    series, _, value = line.rpartition(" ")
    if series == name or series.startswith(name + "{"):
      total = (total or 0.0) + float(value)
  return total


def metric_sample(text, name, labels=""):
  """Returns the value of the one sample `name{labels}` (`name` alone when `labels` is empty)
  in exposition `text`, or None when it is absent."""
  series = name + (("{" + labels + "}") if labels else "")
  for line in text.splitlines():
    if line.startswith(series + " "):
      return float(line.rsplit(" ", 1)[1])
  return None

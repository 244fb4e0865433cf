"""The one wait of the script suites: poll a condition until a deadline, never sleep for work."""
import time


def wait_until(predicate, timeout, what, period=0.05, describe=None):
  """Calls `predicate` until it returns a true value and returns that value; raises
  AssertionError naming `what` and the last value seen after `timeout` seconds. An exception
  raised by `predicate` (a process that died, say) ends the wait at once. When the predicate
  answers only True/False, `describe` (a callable) says what it looked at, in the error."""
  deadline = time.monotonic() + timeout
  last = None
  while True:
    last = predicate()
    if last:
      return last
    if time.monotonic() >= deadline:
      seen = f"; {describe()}" if describe is not None else ""
      raise AssertionError(
          f"timed out after {timeout}s waiting for {what} (last: {last!r}{seen})")
    time.sleep(period)

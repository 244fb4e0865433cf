"""The one test support package of the Python suites (tests/README.md, "Python test support").

What a script suite needs to run steppewatch as a user does: the built binaries and the source
tree (`paths`), one way to wait for a condition (`wait`), HTTP probes and /metrics samples
(`http`), child processes with their logs, `steppewatch broker` and steppewatchd (`processes`),
Kafka reads with confluent-kafka and writes with kcat (`kafka`), expected alerts from
`steppewatch match` (`items`), and a unittest base class that owns a broker (`cases`).

Importing it: ctest puts tests/ on PYTHONPATH for every script suite (STEPPEWATCH_SCRIPT_ENV in
tests/CMakeLists.txt) and benchmarks/e2e/run.sh does the same, so a suite writes
`import support` and nothing else. By hand:
`PYTHONPATH=tests STEPPEWATCH_BUILD_DIR=build/release /usr/bin/python3 tests/X/Y_test.py`.
Debian's confluent-kafka is visible only to /usr/bin/python3 (`python3` on PATH may be another
interpreter); it is imported when a Kafka reader is first made, so `import support` works in any
Python 3.

The names below are re-exported so a suite can `import support as sw` and write `sw.Broker`,
`sw.wait_until`, `sw.SWD`. Nothing here sleeps to wait for work: every wait polls a condition
against a deadline and fails with what it saw last.
"""
from .paths import (ALERT_TOPICS, BUILD, DEFAULT_PACK, DLQ, GEN, INPUT, SHARED_CORPUS, SKIP,
                    SOURCE, SW, SWD)
from .wait import wait_until
from .http import free_port, http_get, metric_sample, metrics_sum
from .processes import (Broker, Daemon, LoggedProcess, TempDir, cpu_seconds, proc_status,
                        vm_mb, write_daemon_config)
from .kafka import Kafka, kcat_produce, standard_topics
from .items import alerts_by_item, gen_items, offline_alerts
from .cases import BrokerTestCase
from .embedded import EmbeddedDaemon

__all__ = [
    "ALERT_TOPICS", "BUILD", "DEFAULT_PACK", "DLQ", "GEN", "INPUT", "SHARED_CORPUS", "SKIP",
    "SOURCE", "SW", "SWD", "wait_until", "free_port", "http_get", "metric_sample", "metrics_sum",
    "Broker", "Daemon", "LoggedProcess", "TempDir", "cpu_seconds", "proc_status", "vm_mb",
    "write_daemon_config", "Kafka", "kcat_produce", "standard_topics", "alerts_by_item",
    "gen_items", "offline_alerts", "BrokerTestCase", "EmbeddedDaemon",
]

"""Where the binaries, the source tree and the shared corpus are, and the default topic names.

Paths come from the environment that the tests.cmake files set: STEPPEWATCH_BUILD_DIR (the build
whose steppewatch and steppewatchd run) and STEPPEWATCH_SOURCE_DIR. Without them: the source
tree this file lives in and its build/e2e (the end-to-end benchmark's build).
"""
import os

SOURCE = os.path.abspath(os.environ.get("STEPPEWATCH_SOURCE_DIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")))
BUILD = os.path.abspath(os.environ.get("STEPPEWATCH_BUILD_DIR", os.path.join(SOURCE, "build/e2e")))
SW = os.path.join(BUILD, "steppewatch")
SWD = os.path.join(BUILD, "steppewatchd")
DEFAULT_PACK = os.path.join(SOURCE, "config/rules/central-asia")
GEN = os.path.join(SOURCE, "benchmarks/e2e/gen.py")
SHARED_CORPUS = os.path.normpath(os.path.join(SOURCE, "../shared/corpus"))

# ctest's SKIP_RETURN_CODE of the script suites: reported as skipped, never as passed.
SKIP = 77

INPUT = "news.items"
DLQ = "steppewatch.dead-letter"
# The default pack's alert topics, plus the daemon's default for rules that name none.
ALERT_TOPICS = ["alerts.central-asia", "alerts.central-asia.urgent", "steppewatch.alerts"]

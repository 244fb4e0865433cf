#!/usr/bin/python3
"""promtool check metrics on a real steppewatchd's /metrics, after it processed the demo items;
and the families the dashboard and alerts need are present.

Usage: check_exposition_test.py STEPPEWATCHD SOURCE_DIR
"""

import subprocess
import sys

import support

REQUIRED = [
    "steppewatch_items_consumed_total", "steppewatch_items_processed_total",
    "steppewatch_items_matched_total", "steppewatch_scanned_bytes_total",
    "steppewatch_alerts_produced_total", "steppewatch_dead_letters_total",
    "steppewatch_decode_failures_total", "steppewatch_rule_matches_total",
    "steppewatch_item_processing_seconds", "steppewatch_end_to_end_latency_seconds",
    "steppewatch_item_match_seconds", "steppewatch_item_consume_age_seconds",
    "steppewatch_item_queue_wait_seconds",
    "steppewatch_consumer_lag_messages", "steppewatch_in_flight_items",
    "steppewatch_paused_partitions", "steppewatch_unstarted_partitions",
    "steppewatch_partition_fetch_restarts_total", "steppewatch_rebalances_total", "steppewatch_brokers_down",
    "steppewatch_rule_pack_info", "steppewatch_rules_loaded", "steppewatch_rule_reloads_total",
    "steppewatch_rule_reload_last_success_timestamp_seconds", "steppewatch_build_info",
    "process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
    "process_open_fds", "process_max_fds", "process_start_time_seconds",
]


def main():
    binary, source_dir = sys.argv[1], sys.argv[2]
    with support.EmbeddedDaemon(binary, source_dir) as d:
        d.wait_ready()
        d.wait_processed(d.demo_items())
        text = d.metrics()
        for probe in ("/healthz", "/readyz"):
            status, body = support.http_get(d.url + probe)
            print(f"{probe}: {status} {body.strip()}")
            if status != 200:
                return 1
    lint = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text,
                          capture_output=True, text=True)
    sys.stdout.write(lint.stdout + lint.stderr)
    failures = 0
    if lint.returncode != 0:
        print(f"promtool check metrics exited with {lint.returncode}")
        failures += 1
    types = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    for name in REQUIRED:
        if name not in types:
            print(f"missing metric family: {name}")
            failures += 1
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    print(f"{len(types)} families, {len(samples)} samples, promtool exit {lint.returncode}")
    failures += check_stories_only(binary, source_dir)
    failures += check_spike_key_bound(binary, source_dir)
    return 1 if failures else 0


# stories.max_keys at 2 in the demo (its alerts name many rules and tags): the gauge of tracked
# keys reads the bound, and the counter of new stories not counted for the other keys moves.
def check_spike_key_bound(binary, source_dir):
    def values(d):
        text = d.metrics()
        return (support.metrics_sum(text, "steppewatch_stories_spike_keys"),
                support.metrics_sum(text, "steppewatch_stories_untracked_key_counts_total"))
    with support.EmbeddedDaemon(binary, source_dir,
                                extra_args=["--set", "stories.max_keys=2"]) as d:
        d.wait_ready()
        d.wait_processed(d.demo_items())
        try:
            support.wait_until(lambda: (values(d)[1] or 0) > 0, 60,
                               "new stories of untracked keys to be counted")
        except AssertionError as e:
            print(e)
        keys, untracked = values(d)
    print(f"max_keys 2: {keys} keys tracked, {untracked} new-story counts untracked")
    return 0 if keys == 2 and (untracked or 0) > 0 else 1


# The rule pack's families describe the rules a process evaluates. A stories-only process
# evaluates none (it reads the pack's alert topics at start and does not watch the pack), so it
# exports none: SteppewatchRulePackMismatch, which counts pack hashes per job, once fired for
# every stories instance not restarted after a pack change (found by a docs audit).
PACK_FAMILIES = ["steppewatch_rule_pack_info", "steppewatch_rules_loaded",
                 "steppewatch_rule_pack_terms"]


def check_stories_only(binary, source_dir):
    with support.EmbeddedDaemon(binary, source_dir, extra_env={"STEPPEWATCH_ROLES": "stories"},
                                demo=False) as d:
        d.wait_ready()
        text = d.metrics()
    types = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    failures = 0
    for name in ("steppewatch_stories_active", "steppewatch_stories_spike_keys",
                 "steppewatch_stories_untracked_key_counts_total"):
        if name not in types:
            print(f"stories-only process: no {name}")
            failures += 1
    for name in PACK_FAMILIES:
        if name in types:
            print(f"stories-only process exports {name}: it evaluates no rules")
            failures += 1
    print(f"stories-only process: {len(types)} families, no rule pack family: {failures == 0}")
    return failures


if __name__ == "__main__":
    sys.exit(main())

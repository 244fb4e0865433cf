#!/usr/bin/python3
"""The real Prometheus server scrapes a real steppewatchd (embedded broker, demo items, the
stories role beside the matcher), loads both alert rule files, and every PromQL expression of
both Grafana dashboards (the operators' and the analysts' Situation) and of the alert rules
returns data through Prometheus' HTTP API.

"Returns data" means at least one series: template variables are substituted as Grafana would
for job "steppewatch" and all instances, and comparisons become `bool` comparisons, so an alert
expression answers whether the series it watches exist, not whether it fires now. The rules
must also evaluate without error inside Prometheus (health "ok" in /api/v1/rules).

Usage: prometheus_integration_test.py STEPPEWATCHD SOURCE_DIR
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.parse

import promql_exprs
import support
from support import http_get, wait_until

PROMETHEUS = "/usr/bin/prometheus"


def api(base, path, **params):
    status, body = http_get(f"{base}{path}?{urllib.parse.urlencode(params)}", timeout=10)
    if status == 0:
        raise RuntimeError(f"Prometheus does not answer {path}")
    return json.loads(body)


def main():
    binary, source_dir = sys.argv[1], sys.argv[2]
    if not os.access(PROMETHEUS, os.X_OK):
        print(f"SKIP: {PROMETHEUS} not installed (Debian package prometheus)")
        return support.SKIP
    # The operator's dashboard and alerts, and the analysts' (the demo daemon runs the stories
    # role beside the matcher, and its feed ends with a syndicated story and a burst).
    dashboards = [os.path.join(source_dir, "deploy", "grafana", name)
                  for name in ("steppewatch.json", "situation.json")]
    alert_files = [os.path.join(source_dir, "deploy", "prometheus", name)
                   for name in ("steppewatch-alerts.yaml", "steppewatch-stories-alerts.yaml")]
    exprs = [e for d in dashboards for e in promql_exprs.dashboard_expressions(d)]
    exprs += [e for a in alert_files for e in promql_exprs.alert_expressions(a)]

    with support.EmbeddedDaemon(binary, source_dir) as d:
        d.wait_ready()
        workdir = tempfile.mkdtemp(prefix="steppewatch-prom-")
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w", encoding="utf-8") as f:
            # Scrape and evaluate every second so rate() windows fill within seconds.
            f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    f"rule_files: {json.dumps(alert_files)}\n"
                    "scrape_configs:\n"
                    "  - job_name: steppewatch\n"
                    f"    static_configs: [{{targets: ['127.0.0.1:{d.port}']}}]\n")
        prom_port = support.free_port()
        base = f"http://127.0.0.1:{prom_port}"
        prom_log_path = os.path.join(workdir, "prometheus.log")
        with open(prom_log_path, "w", encoding="utf-8") as prom_log:
            prom = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}",
                 f"--storage.tsdb.path={os.path.join(workdir, 'data')}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                stdout=prom_log, stderr=subprocess.STDOUT, cwd=workdir)
            try:
                return run_checks(d, base, exprs, prom)
            finally:
                prom.terminate()
                try:
                    prom.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    prom.kill()
                    prom.wait()
                with open(prom_log_path, encoding="utf-8", errors="replace") as f:
                    log = f.read()
                if log.strip():
                    print("--- prometheus log ---\n" + log[-4000:])


# Expressions that select a state the demo never produces, so no series is expected: each must
# still be accepted by Prometheus, and the metric it selects from must have data.
NO_SERIES_IN_THE_DEMO = {
    # The demo's burst is in two or three languages: its spikes are all confirmed.
    'rule "SteppewatchSpike"': ('confirmed="false"', "steppewatch_spike_active"),
}


def run_checks(d, base, exprs, prom):
    def prometheus_up():
        if prom.poll() is not None:
            raise RuntimeError(f"prometheus exited with {prom.returncode}")
        return http_get(base + "/-/ready")[0] == 200
    wait_until(prometheus_up, 60, "Prometheus to be ready", period=0.2,
               describe=lambda: "/-/ready answers %s %r" % http_get(base + "/-/ready"))
    wait_until(lambda: api(base, "/api/v1/query", query='up{job="steppewatch"} == 1')
               ["data"]["result"], 60, "Prometheus to scrape steppewatchd", period=0.2,
               describe=lambda: "its targets: %s" % json.dumps(
                   [(t.get("health"), t.get("lastError")) for t in
                    api(base, "/api/v1/targets")["data"]["activeTargets"]]))
    d.wait_processed(d.demo_items())

    queries = [(where, expr, promql_exprs.with_bool_comparisons(promql_exprs.substitute(expr)))
               for where, expr in exprs]
    results = {}

    def all_have_data():
        d.check_running()
        for where, expr, query in queries:
            answer = api(base, "/api/v1/query", query=query)
            if answer.get("status") != "success":
                raise RuntimeError(f"{where}: Prometheus rejects {query}: {answer}")
            results[where] = len(answer["data"]["result"])
            if where in NO_SERIES_IN_THE_DEMO:
                selector, metric = NO_SERIES_IN_THE_DEMO[where]
                if selector not in expr:
                    raise RuntimeError(f"{where}: no longer selects {selector}; update the test")
                # Counted as data when the metric it selects from has some.
                results[where] = len(api(base, "/api/v1/query", query=metric)["data"]["result"])
        return all(results.values())

    failures = 0
    try:
        wait_until(all_have_data, 90, "every expression to return data", period=1)
    except AssertionError as e:
        print(e)
        failures += 1
    for where, expr, query in queries:
        mark = "ok  " if results.get(where) else "FAIL"
        note = " (no series expected in the demo; its metric has these)" \
            if where in NO_SERIES_IN_THE_DEMO else ""
        print(f"{mark} {results.get(where, 0):3d} series  {where}: {query}{note}")

    def all_rules():
        return [r for g in api(base, "/api/v1/rules")["data"]["groups"] for r in g["rules"]]

    def rules_evaluated():
        rules = all_rules()
        return rules if rules and all(r.get("evaluationTime", 0) > 0 for r in rules) else None

    def not_evaluated():
        rules = all_rules()
        waiting = [r["name"] for r in rules if not r.get("evaluationTime", 0) > 0]
        return f"{len(rules)} rules loaded, not evaluated yet: {waiting}"
    rules = wait_until(rules_evaluated, 30, "every rule to be evaluated once", period=0.2,
                       describe=not_evaluated)
    for r in rules:
        if r.get("health") != "ok":
            print(f"FAIL rule {r['name']}: health {r.get('health')}: {r.get('lastError')}")
            failures += 1
    print(f"{len(queries)} expressions, {len(rules)} rules evaluated, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

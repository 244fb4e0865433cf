#!/usr/bin/python3
"""Keeps the PrometheusRules of deploy/kubernetes equal to the alert files of deploy/prometheus.

base/prometheusrule.yaml wraps steppewatch-alerts.yaml (the matchers'), and
components/stories/prometheusrule.yaml wraps steppewatch-stories-alerts.yaml (the stories stage's).

The alerts file is the one source (promtool tests it); the PrometheusRule wraps the same groups for
prometheus-operator. Kustomize cannot embed one YAML file in another without a generator plugin, so
the wrapper is generated and committed, and this check fails when they drift.

  prometheusrule.py SOURCE_DIR --check   exit 1 when the committed file differs from the alerts
  prometheusrule.py SOURCE_DIR --write   regenerate it
"""
import sys
from pathlib import Path

import yaml

HEADER = """\
# GENERATED from deploy/prometheus/{alerts} by
#   tests/deploy/prometheusrule.py . --write
# Do not edit: change the alerts file (promtool-tested) and regenerate. tests/deploy checks it.
"""

# (alerts file under deploy/prometheus, PrometheusRule under deploy/kubernetes, its name)
PAIRS = [
    ("steppewatch-alerts.yaml", "base/prometheusrule.yaml", "steppewatch"),
    ("steppewatch-stories-alerts.yaml", "components/stories/prometheusrule.yaml",
     "steppewatch-stories"),
]


def render(alerts_path: Path, name: str) -> str:
    alerts = yaml.safe_load(alerts_path.read_text())
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name},
        "spec": {"groups": alerts["groups"]},
    }
    return HEADER.format(alerts=alerts_path.name) + yaml.safe_dump(
        rule, sort_keys=False, allow_unicode=True, width=100)


def main() -> int:
    src = Path(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "--check"
    failed = 0
    for alerts_name, target_name, rule_name in PAIRS:
        alerts = src / "deploy/prometheus" / alerts_name
        target = src / "deploy/kubernetes" / target_name
        if mode == "--write":
            target.write_text(render(alerts, rule_name))
            print(f"wrote {target}")
            continue
        if not target.exists():
            print(f"FAIL: {target} is missing; run {sys.argv[0]} {src} --write")
            failed = 1
            continue
        committed = yaml.safe_load(target.read_text())
        expected = yaml.safe_load(alerts.read_text())
        if (committed.get("kind") != "PrometheusRule" or
                committed["spec"]["groups"] != expected["groups"]):
            print(f"FAIL: {target} differs from {alerts}; run {sys.argv[0]} {src} --write")
            failed = 1
            continue
        names = [r.get("alert") for g in expected["groups"] for r in g["rules"]]
        print(f"ok: {target_name} carries the {len(names)} alerts of {alerts_name}: "
              f"{', '.join(names)}")
    return failed


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Keeps deploy/kubernetes/base/prometheusrule.yaml equal to deploy/prometheus/steppewatch-alerts.yaml.

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
# GENERATED from deploy/prometheus/steppewatch-alerts.yaml by
#   tests/deploy/prometheusrule.py . --write
# Do not edit: change the alerts file (promtool-tested) and regenerate. tests/deploy checks it.
"""


def render(alerts_path: Path) -> str:
    alerts = yaml.safe_load(alerts_path.read_text())
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "steppewatch"},
        "spec": {"groups": alerts["groups"]},
    }
    return HEADER + yaml.safe_dump(rule, sort_keys=False, allow_unicode=True, width=100)


def main() -> int:
    src = Path(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "--check"
    alerts = src / "deploy/prometheus/steppewatch-alerts.yaml"
    target = src / "deploy/kubernetes/base/prometheusrule.yaml"
    if mode == "--write":
        target.write_text(render(alerts))
        print(f"wrote {target}")
        return 0
    if not target.exists():
        print(f"FAIL: {target} is missing; run {sys.argv[0]} {src} --write")
        return 1
    committed = yaml.safe_load(target.read_text())
    expected = yaml.safe_load(alerts.read_text())
    if committed.get("kind") != "PrometheusRule" or committed["spec"]["groups"] != expected["groups"]:
        print(f"FAIL: {target} differs from {alerts}; run {sys.argv[0]} {src} --write")
        return 1
    names = [r.get("alert") for g in expected["groups"] for r in g["rules"]]
    print(f"ok: PrometheusRule carries the {len(names)} alerts of the alerts file: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

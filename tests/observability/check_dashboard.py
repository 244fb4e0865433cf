#!/usr/bin/python3
"""Checks the structure of deploy/grafana/steppewatch.json.

- the datasource is a template variable (type "datasource"), never a ${DS_...} import input;
- every panel and every target uses that variable as its datasource;
- every panel except rows has at least one target with a PromQL expression;
- panel ids are unique, every panel has a title and a grid position;
- every expression selects the $job and $instance variables (so the dashboard's pickers work)
  and uses no template variable the dashboard does not define.

Usage: check_dashboard.py DASHBOARD_JSON
"""

import json
import re
import sys

import promql_exprs

GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"}


def check(dashboard):
    errors = []
    variables = dashboard.get("templating", {}).get("list", [])
    ds_vars = [v["name"] for v in variables if v.get("type") == "datasource"]
    if ds_vars != ["datasource"]:
        errors.append(f"want exactly one datasource variable named 'datasource', got {ds_vars}")
    ds_ref = "${datasource}"
    if "__inputs" in dashboard:
        errors.append("has __inputs: an import-only ${DS_...} datasource")
    if "${DS_" in json.dumps(dashboard):
        errors.append("mentions ${DS_...}: use the datasource variable")
    defined = {v["name"] for v in variables} | GRAFANA_BUILTINS

    def uses_variable(ds, where):
        uid = ds.get("uid") if isinstance(ds, dict) else ds
        if uid != ds_ref:
            errors.append(f"{where}: datasource {ds!r} is not {ds_ref}")

    for v in variables:
        if v.get("type") == "query":
            uses_variable(v.get("datasource"), f'variable {v["name"]}')
    for a in dashboard.get("annotations", {}).get("list", []):
        if a.get("expr"):
            uses_variable(a.get("datasource"), f'annotation {a.get("name")}')

    seen_ids = set()
    panels = list(promql_exprs.dashboard_panels(dashboard))
    if not panels:
        errors.append("no panels")
    for p in panels:
        where = f'panel {p.get("id")} "{p.get("title")}"'
        if not isinstance(p.get("id"), int):
            errors.append(f"{where}: no integer id")
        elif p["id"] in seen_ids:
            errors.append(f"{where}: duplicate id")
        seen_ids.add(p.get("id"))
        if not p.get("title"):
            errors.append(f"{where}: no title")
        if not all(k in p.get("gridPos", {}) for k in ("h", "w", "x", "y")):
            errors.append(f"{where}: no gridPos")
        if p.get("type") == "row":
            continue
        uses_variable(p.get("datasource"), where)
        targets = p.get("targets") or []
        if not targets:
            errors.append(f"{where}: no query")
        for t in targets:
            twhere = f'{where} target {t.get("refId")}'
            uses_variable(t.get("datasource"), twhere)
            expr = t.get("expr", "")
            if not expr.strip():
                errors.append(f"{twhere}: empty expression")
                continue
            for needle in ('job=~"$job"', 'instance=~"$instance"'):
                if needle not in expr:
                    errors.append(f"{twhere}: does not select {needle}: {expr}")
            for name in re.findall(r"\$\{?(\w+)", expr):
                if name not in defined:
                    errors.append(f"{twhere}: undefined variable ${name}")
    return errors, len(panels)


def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        dashboard = json.load(f)
    errors, count = check(dashboard)
    for e in errors:
        print(f"{path}: {e}")
    if errors:
        return 1
    print(f"{path}: {count} panels OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The PromQL expressions of steppewatch's Grafana dashboard and Prometheus alert rules.

Shared by check_dashboard.py and prometheus_integration_test.py: extracts every expression,
substitutes the dashboard's template variables the way Grafana would for a single job and all
instances, and turns comparisons into `bool` comparisons so that an expression "returns data"
whenever the series it reads exist, whether or not its alert condition holds right now.
"""

import json
import re

import yaml

# What Grafana substitutes, for a Prometheus that scrapes every second (the integration test):
# $__rate_interval is at least 4 scrapes; 1m also covers a slower CI machine's scrape jitter.
DEFAULT_VARIABLES = {
    "job": "steppewatch",
    "instance": ".*",  # the dashboard's allValue
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
}


def dashboard_panels(dashboard):
    """Yields every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        for inner in panel.get("panels", []) or []:
            yield inner


def dashboard_expressions(path):
    """Returns [(where, expr)] for every panel target, variable query and annotation."""
    with open(path, encoding="utf-8") as f:
        dashboard = json.load(f)
    out = []
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets", []) or []:
            if target.get("expr"):
                out.append((f'panel {panel.get("id")} "{panel.get("title")}" '
                            f'{target.get("refId")}', target["expr"]))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            out.append((f'annotation "{annotation.get("name")}"', annotation["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", query or "")
        if match:  # label_values(selector, label) is Grafana's; its selector is PromQL
            out.append((f'variable "{variable["name"]}"', match.group(1)))
    return out


def alert_expressions(path):
    """Returns [(where, expr)] for every alerting and recording rule."""
    with open(path, encoding="utf-8") as f:
        rules = yaml.safe_load(f)
    out = []
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            out.append((f'rule "{name}"', rule["expr"]))
    return out


def substitute(expr, variables=None):
    """Replaces $name, ${name} and [[name]] the way Grafana does."""
    variables = variables or DEFAULT_VARIABLES

    def value(match):
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in variables:
            raise KeyError(f"unknown template variable ${name} in: {expr}")
        return variables[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", value, expr)


_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")


def with_bool_comparisons(expr):
    """Adds `bool` to every comparison operator outside label matchers and strings.

    `x > 5` keeps only the series above 5; `x > bool 5` keeps every series (as 0 or 1). The
    integration test uses this to ask "do the series this alert reads exist?".
    """
    out = []
    i = 0
    depth = 0  # inside {...}
    quote = None
    while i < len(expr):
        c = expr[i]
        if quote:
            out.append(c)
            if c == "\\" and i + 1 < len(expr):
                out.append(expr[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if c in "\"'`":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0:
            op = next((o for o in _COMPARISONS if expr.startswith(o, i)), None)
            if op:
                rest = expr[i + len(op):]
                out.append(op)
                if not re.match(r"\s*bool\b", rest):
                    out.append(" bool")
                i += len(op)
                continue
        out.append(c)
        i += 1
    return "".join(out)

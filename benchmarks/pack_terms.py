#!/usr/bin/env python3
"""Prints a rule pack's literal terms, one per line, for the ripgrep reference of the offline
benchmark (benchmarks/README.md): every set term of every *.yaml below the pack directory, a
prefix's trailing '*' removed, regexes (/.../) left out, sorted and unique.

    benchmarks/pack_terms.py config/rules/central-asia > /tmp/pack-terms.txt
    rg -c -i -F -w -f /tmp/pack-terms.txt FILE
"""
import glob
import sys

import yaml  # Debian's python3-yaml


def main():
    terms = set()

    def add(t):
        if isinstance(t, dict):
            t = t.get("term")
        if not isinstance(t, str) or t.startswith("/"):
            return
        t = t.rstrip("*").strip()
        if t:
            terms.add(t)

    for path in sorted(glob.glob(sys.argv[1] + "/**/*.yaml", recursive=True)):
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        if not isinstance(doc, dict):
            continue
        for s in (doc.get("sets") or {}).values():
            for t in s.get("terms", []):
                add(t)
    print("\n".join(sorted(terms)))


if __name__ == "__main__":
    main()

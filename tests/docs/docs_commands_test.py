#!/usr/bin/python3
"""Every `steppewatch ...` and `steppewatchd ...` command quoted in the docs and runbooks parses.

Usage: docs_commands_test.py SOURCE_DIR STEPPEWATCH STEPPEWATCHD

Reads the inline code spans of README.md, deploy/*.md, config/rules/README.md and the annotations
of deploy/prometheus/steppewatch-alerts.yaml, turns each quoted command into a concrete one
(placeholders such as DIR, FILE or N become real paths and values; `[optional]` parts are kept;
of `A|B` the first is taken), and runs it:
- local commands (rules, match, explain, version, help) run for real on the default pack and the
  demo items and must not end in a usage error (exit 2) or an unknown command or option;
- commands that need a broker or start the daemon run with `--help` appended: both flag parsers
  read every flag before they honour --help, so an unknown command or flag still fails (exit 2).
A documented command that does not exist (`steppewatch check RULES_DIR`) fails the test.
"""
import glob
import hashlib
import os
import re
import subprocess
import sys
import tempfile

SOURCE, CLI, DAEMON = sys.argv[1], sys.argv[2], sys.argv[3]
PACK = os.path.join(SOURCE, "config/rules/central-asia")
ITEMS = os.path.join(SOURCE, "config/demo/sample-items.jsonl")
CONFIG = os.path.join(SOURCE, "config/steppewatch.example.yaml")
TMP = tempfile.mkdtemp(prefix="sw-docs-")

# Placeholders of the docs -> concrete values.
PLACEHOLDERS = {
    "RULES_DIR": PACK, "DIR": PACK, "config/rules/central-asia": PACK,
    "FILE.jsonl": ITEMS, "ARCHIVE.jsonl": ITEMS, "sample.jsonl": ITEMS, "FILE": ITEMS,
    "ID": "ca.actor.china", "N": "1", "K": "1", "B": "127.0.0.1:1", "T": "news.items",
    "T2": "steppewatch.alerts", "G": "docs-test", "PATH": os.path.join(TMP, "fifo"),
    "NAME": "news.items", "PARTITIONS": "1", "COMMAND": "match",
    "/etc/steppewatch/steppewatch.yaml": CONFIG, "DUR": "72h", "PID": "1", "$MAINPID": "1",
}
# Commands that need a broker, or the daemon itself: parsed only (--help appended).
PARSE_ONLY = {"feed", "tail", "broker"}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def quoted_commands():
    files = [os.path.join(SOURCE, "README.md"), os.path.join(SOURCE, "config/rules/README.md"),
             os.path.join(SOURCE, "deploy/prometheus/steppewatch-alerts.yaml")]
    files += sorted(glob.glob(os.path.join(SOURCE, "deploy/*.md")))
    found = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        # Commands in fenced blocks: lines that start with the binary (or its build path), with
        # their `\` continuations joined.
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"^\s*(\$ )?(\./)?(build/[a-z]+/|/usr/bin/)?", "", line)
                line = line.split(" #")[0].split(" |")[0].split(" &&")[0].split(" >")[0]
                if re.match(r"^steppewatchd?( |$)", line):
                    found.append((os.path.relpath(path, SOURCE), " ".join(line.split())))
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        # A span may be folded over lines (YAML annotations): join the whitespace.
        for span in re.findall(r"`([^`]+)`", text):
            span = " ".join(span.split())
            # A shell pipe or redirection ends the command (` \| ` in a table cell); `A\|B`
            # without spaces is an alternative and stays.
            span = re.split(r" \\?\| | 2?>", span)[0]
            if re.match(r"^steppewatchd?( |$)", span):
                found.append((os.path.relpath(path, SOURCE), span))
    return found


# Flags whose FILE (or DIR) is written: a fresh path, never a file of the source tree.
OUTPUT_FLAGS = {"--output": "alerts.jsonl", "--dead-letters": "dead-letters.jsonl",
                "--summary-json": "summary.json", "--rejected": "rejected.jsonl",
                "--cache-dir": "hs-cache"}


def concrete(span):
    span = span.replace("\\|", "|")
    words = []
    for word in span.split():
        if words and words[-1].strip("[]") in OUTPUT_FLAGS:
            words.append(os.path.join(TMP, OUTPUT_FLAGS[words[-1].strip("[]")]))
            continue
        if word == "[flags]" or word == "[ARGS...]":
            continue
        word = word.strip("[]")
        word = word.split("|")[0] if "|" in word and not word.startswith("-") else word
        if word.startswith("--") and "|" in word:
            word = word.split("|")[0]
        # NAME[:PARTITIONS],... and T[,T2...]: one value.
        word = re.sub(r"\[?[,:][A-Z0-9]+\]?(,\.\.\.)?\]?$", "", word).rstrip(",.")
        words.append(PLACEHOLDERS.get(word, word))
    return words


def main():
    commands = quoted_commands()
    if len(commands) < 10:
        print(f"only {len(commands)} commands found in the docs: the extraction is broken")
        return 1
    failures = []
    before = {p: sha256(p) for p in (ITEMS, CONFIG)}
    pack_files = sorted(os.listdir(PACK))
    for where, span in commands:
        words = concrete(span)
        if len(words) == 1:
            continue  # the program's name in a sentence, not a command
        binary = DAEMON if words[0] == "steppewatchd" else CLI
        argv = [binary] + words[1:]
        sub = words[1]
        # A command named in a sentence ("what `steppewatch match` prints"): it must exist, and
        # a subcommand ("`steppewatch rules check`") must be in its command's usage.
        reference = binary == CLI and all(re.match(r"^[a-z]+$", w) for w in words[1:])
        if reference and len(words) > 2 and sub not in ("version", "help"):
            usage = subprocess.run([CLI, sub, "--help"], capture_output=True, text=True)
            if usage.returncode != 0 or " ".join(words) not in usage.stdout:
                failures.append(f"{where}: `{span}`: not in `steppewatch {sub} --help`")
            else:
                print(f"ok    {where}: `{span}` (in its usage)")
            continue
        if binary == DAEMON or sub in PARSE_ONLY or reference:
            argv.append("--help")
        if binary == CLI and sub == "match" and "--output" not in argv:
            argv += ["--output", os.path.join(TMP, "alerts.jsonl")]
        try:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            failures.append(f"{where}: `{span}`: timed out ({' '.join(argv)})")
            continue
        bad = run.returncode == 2 or re.search(r"unknown (command|option|flag|subcommand)",
                                               run.stderr)
        if bad or run.returncode not in (0, 1):
            failures.append(f"{where}: `{span}`: exit {run.returncode}: "
                            f"{run.stderr.strip().splitlines()[:3]} ({' '.join(argv)})")
        else:
            print(f"ok    {where}: `{span}` (exit {run.returncode})")
    # steppewatch's exit codes, as its --help states them, are the ones deploy/README.md gives.
    overview = subprocess.run([CLI, "--help"], capture_output=True, text=True).stdout
    codes = re.search(r"exit codes: (.*)", overview)
    with open(os.path.join(SOURCE, "deploy/README.md"), encoding="utf-8") as f:
        guide = " ".join(f.read().split())
    if codes is None or " ".join(codes.group(1).split()) not in guide:
        failures.append("deploy/README.md does not give steppewatch's exit codes as its --help "
                        f"does: {codes.group(1) if codes else '(none in --help)'}")
    # The commands read the source tree; none may have written into it.
    for path, digest in before.items():
        if sha256(path) != digest:
            failures.append(f"{path} was modified by a documented command")
    # No command writes into the pack's directory (`match --cache-dir DIR` once stored the
    # compiled pack there, in the source tree).
    added = sorted(set(os.listdir(PACK)) - set(pack_files))
    if added:
        failures.append(f"{PACK} gained {added} from a documented command")
    for f in failures:
        print("FAIL  " + f)
    print(f"{len(commands) - len(failures)} of {len(commands)} quoted commands parse")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

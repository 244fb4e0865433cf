#!/usr/bin/env bash
# Does the unit's SystemCallFilter let steppewatchd run? Without a systemd to enforce it, trace
# the real daemon (embedded broker, demo feed, rule reload watch) with strace and check that every
# system call it makes is in @system-service and not in the groups the unit removes
# (@privileged @resources), as `systemd-analyze syscall-filter` defines them on this host.
# A real broker over TLS/SASL exercises more of libc than the embedded one; see deploy/README.md.
# Usage: syscall_filter_test.sh SOURCE_DIR BINARY_DIR
set -euo pipefail
src=${1:?source dir}
bin=${2:?binary dir}
for tool in strace systemd-analyze; do
  command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
unit=$src/deploy/systemd/steppewatchd.service
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/rules"
cp "$src"/deploy/kubernetes/base/rules/*.yaml "$tmp/rules/"
strace -f -qq -o "$tmp/trace" "$bin/steppewatchd" --embedded --rules "$tmp/rules" \
  --set metrics.listen=127.0.0.1:0 --set pipeline.workers=1 \
  --demo "$src/config/demo/sample-items.jsonl" --demo-exit >/dev/null 2>"$tmp/stderr" || {
  echo "FAIL: the daemon failed under strace"; tail -20 "$tmp/stderr"; exit 1; }
systemd-analyze syscall-filter --no-pager >"$tmp/groups" 2>/dev/null
cat >"$tmp/check.py" <<'PY'
import re, sys
trace, groups_file, unit = sys.argv[1:]
groups, cur = {}, None
for line in open(groups_file):
    s = line.strip()
    if not s or s.startswith("#"):
        continue
    if line.startswith("@"):
        cur = s
        groups[cur] = []
    elif cur:
        groups[cur].append(s)
def expand(names):
    out = set()
    for n in names:
        out |= expand(groups.get(n, [])) if n.startswith("@") else {n}
    return out
# The unit's filter lines: the first is the allow list, "~" lines are removals.
allow, deny = set(), set()
for m in re.finditer(r"^SystemCallFilter=(~?)(.*)$", open(unit).read(), re.M):
    (deny if m.group(1) else allow).update(expand(m.group(2).split()))
used = set()
for line in open(trace):
    m = re.match(r"\d+\s+([a-z_0-9]+)\(", line)
    if m:
        used.add(m.group(1))
if len(used) < 20:
    print(f"FAIL: only {len(used)} system calls traced: the trace is not of the daemon")
    sys.exit(1)
bad = sorted(s for s in used if s not in allow or s in deny)
if bad:
    print(f"FAIL: the unit's SystemCallFilter would refuse {bad}")
    sys.exit(1)
print(f"ok: all {len(used)} system calls the daemon made are allowed by the unit's filter")
PY
/usr/bin/python3 "$tmp/check.py" "$tmp/trace" "$tmp/groups" "$unit"
# The check can fail: a unit that also removes @io-event (poll, epoll) must be refused.
sed 's/^SystemCallFilter=~@privileged @resources$/& @io-event/' "$unit" >"$tmp/narrow.service"
if /usr/bin/python3 "$tmp/check.py" "$tmp/trace" "$tmp/groups" "$tmp/narrow.service" >/dev/null; then
  echo "FAIL: a filter without @io-event passed, so the check proves nothing"; exit 1
fi
echo "ok: a narrower filter (without @io-event) is refused"

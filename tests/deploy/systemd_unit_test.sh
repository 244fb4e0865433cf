#!/usr/bin/env bash
# Checks deploy/systemd/steppewatchd.service offline, without a running systemd:
#  1. `systemd-analyze verify` is silent (it exits 0 on unknown keys, so any output fails);
#  2. a copy with a misspelt key is NOT silent (proves check 1 can fail);
#  3. `systemd-analyze security --offline=true` scores at or under the threshold.
# verify resolves ExecStart/ExecReload binaries and default dependencies (sysinit.target) under
# --root, so the test builds a throwaway root: the host's unit directory, the unit, /bin/kill and
# a stand-in executable at the installed path /usr/bin/steppewatchd.
# Usage: systemd_unit_test.sh SOURCE_DIR [THRESHOLD_TENTHS]
set -euo pipefail
src=${1:?source dir}
# 15 = exposure 1.5 on systemd's 0-10 scale; the unit scores 1.1 (deploy/README.md). A change
# that weakens the sandbox past "OK" fails here.
threshold=${2:-15}
unit=$src/deploy/systemd/steppewatchd.service
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed"; exit 77; }
units_dir=/lib/systemd/system
[[ -e $units_dir/sysinit.target ]] || units_dir=/usr/lib/systemd/system

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/bin" "$root/lib/systemd"
cp -r "$units_dir" "$root/lib/systemd/system"
cp "$unit" "$root/lib/systemd/system/steppewatchd.service"
cp /bin/kill "$root/bin/kill"
printf '#!/bin/sh\nexit 0\n' >"$root/usr/bin/steppewatchd"
chmod +x "$root/usr/bin/steppewatchd"

out=$(systemd-analyze verify --root="$root" steppewatchd.service 2>&1) || {
  echo "FAIL: systemd-analyze verify exited non-zero:"; echo "$out"; exit 1; }
if [[ -n $out ]]; then
  echo "FAIL: systemd-analyze verify complained:"; echo "$out"; exit 1
fi
echo "ok: systemd-analyze verify is silent"

sed 's/^ProtectHome=/ProtectHomme=/' "$unit" >"$root/lib/systemd/system/steppewatchd.service"
out=$(systemd-analyze verify --root="$root" steppewatchd.service 2>&1 || true)
if [[ $out != *ProtectHomme* ]]; then
  echo "FAIL: verify did not flag a misspelt key, so the check above proves nothing: $out"; exit 1
fi
echo "ok: verify flags a misspelt key"
cp "$unit" "$root/lib/systemd/system/steppewatchd.service"

report=$(systemd-analyze security --offline=true --root="$root" --threshold="$threshold" \
  steppewatchd.service 2>&1) && rc=0 || rc=$?
score_line=$(grep -a "Overall exposure level" <<<"$report" || true)
echo "$score_line"
if ((rc != 0)); then
  echo "FAIL: exposure above threshold $threshold (tenths); findings:"
  grep -a "✗" <<<"$report" || echo "$report"
  exit 1
fi
echo "ok: exposure within threshold $threshold (tenths)"

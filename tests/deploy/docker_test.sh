#!/usr/bin/env bash
# Offline checks of the container files (no Docker engine runs here):
#  1. deploy/docker/Dockerfile passes dockerfile-utils' linter (npm, pinned in
#     deploy/kubernetes/validate/package-lock.json), and a broken copy does not (the lint can fail);
#  2. its stages are Debian 12 slim, the final one runs as a non-root uid with the cache dir as
#     a volume, and its runtime packages are exactly the .deb's Depends (CMakeLists.txt);
#  3. deploy/compose/compose.yaml: every bind-mounted file exists, steppewatchd is read-only with
#     the drain-matching stop grace, and its Prometheus config passes `promtool check config`.
# Usage: docker_test.sh SOURCE_DIR
set -euo pipefail
src=${1:?source dir}
tools=$src/deploy/kubernetes/validate
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 77; }
if [[ ! -x $tools/node_modules/.bin/dockerfile-utils ]]; then
  echo "installing the pinned npm packages of the deploy checks (npm ci)"
  npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error >/dev/null
fi
lint=$tools/node_modules/.bin/dockerfile-utils
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$lint" lint "$src/deploy/docker/Dockerfile"
echo "ok: dockerfile-utils lint is clean"
sed 's/^EXPOSE 9464/EXPOSE port-9464/' "$src/deploy/docker/Dockerfile" >"$tmp/Dockerfile"
if "$lint" lint "$tmp/Dockerfile" >/dev/null 2>&1; then
  echo "FAIL: the linter accepted an invalid EXPOSE, so the check above proves nothing"; exit 1
fi
echo "ok: the linter rejects a broken copy"

/usr/bin/python3 - "$src" <<'PY'
import os, re, sys, yaml
src = sys.argv[1]
fail = []
df = open(f"{src}/deploy/docker/Dockerfile").read()
for image in re.findall(r"^FROM\s+(\S+)", df, re.M):
    if image != "debian:12-slim":
        fail.append(f"Dockerfile: base image {image} is not debian:12-slim")
final = df[df.rindex("\nFROM "):]
user = re.findall(r"^USER\s+(\S+)", final, re.M)
if not user or user[-1].split(":")[0] in ("0", "root"):
    fail.append("Dockerfile: the final stage must end with a non-root USER")
if "/var/cache/steppewatch" not in "".join(re.findall(r"^VOLUME\s+(.*)$", final, re.M)):
    fail.append("Dockerfile: /var/cache/steppewatch must be a VOLUME (read-only root)")
runtime = set(re.findall(r"\b(lib[\w.+-]+|ca-certificates)\b",
              re.search(r"apt-get install -y --no-install-recommends \\\n(.*?)\n &&", final, re.S).group(1)))
cm = open(f"{src}/CMakeLists.txt").read()
deps = re.search(r'CPACK_DEBIAN_PACKAGE_DEPENDS\s+"([^"]+)"', cm).group(1)
debs = {d.strip().split()[0] for d in deps.split(",")} - {"libc6", "libstdc++6", "libgcc-s1"}
if runtime != debs:
    fail.append(f"Dockerfile runtime packages {sorted(runtime)} != .deb Depends {sorted(debs)}")

compose_dir = f"{src}/deploy/compose"
c = yaml.safe_load(open(f"{compose_dir}/compose.yaml"))
for name, svc in c["services"].items():
    for v in svc.get("volumes", []):
        host = v.split(":")[0]
        if host.startswith((".", "/")) and not os.path.exists(os.path.join(compose_dir, host)):
            fail.append(f"compose: {name} mounts {host}, which does not exist")
    b = svc.get("build")
    if b and not os.path.exists(os.path.join(compose_dir, b["context"], b["dockerfile"])):
        fail.append(f"compose: {name} builds from a missing Dockerfile")
sw = c["services"]["steppewatchd"]
if not sw.get("read_only"):
    fail.append("compose: steppewatchd must run with a read-only root filesystem")
if sw.get("stop_grace_period") != "45s":
    fail.append("compose: steppewatchd stop_grace_period must be the drain budget + 15 s (45s)")
print("\n".join(fail) if fail else "ok: Dockerfile and compose invariants hold")
sys.exit(1 if fail else 0)
PY

if command -v promtool >/dev/null; then
  cp "$src/deploy/compose/prometheus.yml" "$src/deploy/prometheus/steppewatch-alerts.yaml" \
     "$src/deploy/prometheus/steppewatch-stories-alerts.yaml" "$tmp/"
  promtool check config "$tmp/prometheus.yml"
fi

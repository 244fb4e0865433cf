#!/usr/bin/env bash
# Renders every kustomization under deploy/kubernetes (base, overlays/*) with `kubectl kustomize`
# and validates every object offline against Kubernetes, prometheus-operator and KEDA schemas,
# unknown fields included (deploy/kubernetes/validate/validate.mjs). Then checks the invariants
# that tie the manifests to the daemon: grace period = drain budget + 15 s = systemd
# TimeoutStopSec, probes on /healthz (liveness) and /readyz (readiness, startup), rules and
# config mounted as directories, a StatefulSet whose stable pod name is the static group
# membership id (kafka.instance_id), and a session timeout above the unit's restart delay; with
# the stories component, its StatefulSet runs roles [stories] from its own config, reads the
# matchers' rules ConfigMap and connects to Kafka like the matchers.
# Finally proves the validator can fail, on a copy with a misspelt field.
# With BINARY_DIR (a build with steppewatchd), each rendering's config and rules ConfigMaps are
# also written out and checked by the real daemon: `steppewatchd --check-config` (unknown keys,
# pack compile, embedded tests).
# Usage: kubernetes_test.sh SOURCE_DIR [BINARY_DIR]
set -euo pipefail
src=${1:?source dir}
bin=${2:-}
k8s=$src/deploy/kubernetes
validate=$k8s/validate

command -v kubectl >/dev/null || { echo "SKIP: kubectl (with kustomize) not installed"; exit 77; }
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 77; }
# The validator's npm packages, pinned by package-lock.json; installed once (needs the npm
# registry the first time only).
if [[ ! -d $validate/node_modules/kubernetes-models ]]; then
  echo "installing the validator's pinned npm packages (npm ci)"
  npm ci --prefix "$validate" --no-audit --no-fund --loglevel=error >/dev/null
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rendered=()
for dir in "$k8s/base" "$k8s"/overlays/*/; do
  dir=${dir%/}
  name=$(basename "$dir")
  kubectl kustomize "$dir" >"$out/$name.yaml"
  echo "rendered $name: $(grep -c '^kind:' "$out/$name.yaml") objects"
  rendered+=("$out/$name.yaml")
done
node "$validate/validate.mjs" "${rendered[@]}"

/usr/bin/python3 - "$src" "${rendered[@]}" <<'PY'
import re, sys, yaml
src, files = sys.argv[1], sys.argv[2:]
fail = []
unit = open(f"{src}/deploy/systemd/steppewatchd.service").read()
stop = int(re.search(r"^TimeoutStopSec=(\d+)s$", unit, re.M).group(1))


def kafka_env(statefulset):
    """The Kafka connection variables of a StatefulSet's container (not its membership id)."""
    env = statefulset["spec"]["template"]["spec"]["containers"][0].get("env", [])
    return {(e["name"], e.get("value")) for e in env
            if e["name"].startswith("STEPPEWATCH_KAFKA_") and e["name"] != "STEPPEWATCH_KAFKA_INSTANCE_ID"}


for f in files:
    docs = [d for d in yaml.safe_load_all(open(f)) if d]
    if any(d["kind"] == "Deployment" for d in docs):
        fail.append(f"{f}: a Deployment: pod names change on restart, static membership needs a StatefulSet")
    cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    sets = [d for d in docs if d["kind"] == "StatefulSet"]
    if not any(d["metadata"]["name"] == "steppewatch" for d in sets):
        fail.append(f"{f}: no StatefulSet steppewatch (the matchers)")
    for dep in sets:
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]["spec"]
        vols = {v["name"]: v for v in pod["volumes"]}
        # The config volume's ConfigMap (hash-suffixed) and the one file in it.
        cfg_cm = next(v for k, v in cms.items()
                      if k == vols["config"]["configMap"]["name"])
        (cfg_file, cfg_text), = cfg_cm["data"].items()
        cfg = yaml.safe_load(cfg_text)
        c = pod["containers"][0]
        if f"/etc/steppewatch/config/{cfg_file}" not in c.get("args", []):
            fail.append(f"{f}: {name} does not read its config file {cfg_file}")
        roles = cfg.get("roles", ["match"])
        if (name == "steppewatch") != (roles == ["match"]) or \
           (name == "steppewatch-stories") != (roles == ["stories"]):
            fail.append(f"{f}: {name} runs roles {roles}")
        budget = cfg["pipeline"]["shutdown_budget_seconds"]
        grace = pod["terminationGracePeriodSeconds"]
        if grace != budget + 15 or grace != stop:
            fail.append(f"{f}: {name}: terminationGracePeriodSeconds {grace} != drain budget "
                        f"{budget} + 15 == TimeoutStopSec {stop}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                            ("startupProbe", "/readyz")):
            if c.get(probe, {}).get("httpGet", {}).get("path") != path:
                fail.append(f"{f}: {name}: {probe} is not an HTTP GET of {path}")
        for m in c["volumeMounts"]:
            if "subPath" in m:
                fail.append(f"{f}: {name}: mount {m['name']} uses subPath: ConfigMap updates never reach it")
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        if mounts.get(cfg["rules"]["dir"]) != "rules" or \
           vols["rules"]["configMap"]["name"] != "steppewatch-rules":
            fail.append(f"{f}: {name}: rules.dir {cfg['rules']['dir']} is not the steppewatch-rules mount")
        if mounts.get(cfg["rules"]["cache_dir"]) is None:
            fail.append(f"{f}: {name}: rules.cache_dir is not a writable volume (read-only root fs)")
        env = {e["name"]: e for e in c.get("env", [])}
        if name == "steppewatch":
            iid = env.get("STEPPEWATCH_KAFKA_INSTANCE_ID", {})
            if iid.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
                fail.append(f"{f}: STEPPEWATCH_KAFKA_INSTANCE_ID is not the pod name (static membership)")
        if kafka_env(dep) != kafka_env(sets[0]):
            fail.append(f"{f}: {name} does not connect to Kafka like {sets[0]['metadata']['name']}")
        sc = c["securityContext"]
        if not (sc.get("readOnlyRootFilesystem") and sc.get("capabilities", {}).get("drop") == ["ALL"]
                and pod["securityContext"].get("runAsNonRoot")):
            fail.append(f"{f}: {name}: security context is weaker than the base's")
    # Every ServiceMonitor scrapes something: a Service carries its selector's labels (and the
    # jobLabel it names), has the endpoint's port, and selects a StatefulSet's pods. The stories
    # Service once lacked app.kubernetes.io/name, so its ServiceMonitor matched nothing and no
    # stories metric (nor the alerts on them) ever reached Prometheus.
    services = [d for d in docs if d["kind"] == "Service"]
    for sm in (d for d in docs if d["kind"] == "ServiceMonitor"):
        want = sm["spec"]["selector"].get("matchLabels", {})
        job = sm["spec"].get("jobLabel")
        ports = {e.get("port") for e in sm["spec"]["endpoints"]}
        hits = [sv for sv in services
                if want.items() <= sv["metadata"].get("labels", {}).items()]
        if not hits:
            fail.append(f"{f}: ServiceMonitor {sm['metadata']['name']} selects no Service ({want})")
        for sv in hits:
            labels = sv["metadata"].get("labels", {})
            if job and job not in labels:
                fail.append(f"{f}: Service {sv['metadata']['name']} lacks the jobLabel {job}")
            if not ports <= {pt.get("name") for pt in sv["spec"].get("ports", [])}:
                fail.append(f"{f}: Service {sv['metadata']['name']} has no port {ports}")
            sel = sv["spec"].get("selector", {})
            if not any(sel.items() <= st["spec"]["template"]["metadata"].get("labels", {}).items()
                       for st in sets):
                fail.append(f"{f}: Service {sv['metadata']['name']} selects no StatefulSet's pods")
    dep = next(d for d in sets if d["metadata"]["name"] == "steppewatch")
    rules_cm = cms.get("steppewatch-rules")
    if rules_cm is None:
        fail.append(f"{f}: the rules ConfigMap must keep its fixed name (no hash suffix) so updates reload in place")
    so = next((d for d in docs if d["kind"] == "ScaledObject"), None)
    if so is not None and "replicas" in dep["spec"]:
        fail.append(f"{f}: StatefulSet sets replicas while KEDA owns them")
    if so is not None and so["spec"]["scaleTargetRef"].get("kind") != "StatefulSet":
        fail.append(f"{f}: the ScaledObject does not target the StatefulSet")
# The unit restarts a crashed daemon within the consumer's session timeout, so the static member
# comes back before the group moves its partitions (deploy/README.md, "Fast recovery").
restart = float(re.search(r"^RestartSec=(\d+)s$", unit, re.M).group(1))
if not re.search(r"^Environment=STEPPEWATCH_KAFKA_INSTANCE_ID=", unit, re.M):
    fail.append("steppewatchd.service: no STEPPEWATCH_KAFKA_INSTANCE_ID (static membership)")
# Huge pages for malloc (deploy/README.md, "Scale"): the unit and the image (which the
# Kubernetes manifests run) say the same.
dockerfile = open(f"{src}/deploy/docker/Dockerfile").read()
if not re.search(r"^Environment=GLIBC_TUNABLES=glibc\.malloc\.hugetlb=1$", unit, re.M):
    fail.append("steppewatchd.service: no GLIBC_TUNABLES=glibc.malloc.hugetlb=1")
if not re.search(r"^\s+GLIBC_TUNABLES=glibc\.malloc\.hugetlb=1$", dockerfile, re.M):
    fail.append("Dockerfile: no GLIBC_TUNABLES=glibc.malloc.hugetlb=1 in the image's ENV")
if not re.search(r"^RestartPreventExitStatus=5$", unit, re.M):
    fail.append("steppewatchd.service: a fenced instance (exit 5) must not be restarted")
session = int(re.search(r'"session.timeout.ms", "(\d+)"',
                        open(f"{src}/src/kafka/client.cc").read()).group(1)) / 1000
if restart * 3 > session:
    fail.append(f"RestartSec {restart} s is not well below session.timeout.ms {session} s")
print("\n".join(fail) if fail else f"ok: invariants hold in {len(files)} renderings")
sys.exit(1 if fail else 0)
PY

if [[ -n $bin && -x $bin/steppewatchd ]]; then
  for f in "${rendered[@]}"; do
    name=$(basename "$f" .yaml)
    /usr/bin/python3 - "$f" "$out/$name" <<'PY'
import os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
root = sys.argv[2]
for d in docs:
    if d["kind"] != "ConfigMap":
        continue
    sub = "rules" if d["metadata"]["name"] == "steppewatch-rules" else "config"
    os.makedirs(f"{root}/{sub}", exist_ok=True)
    for key, text in d["data"].items():
        open(f"{root}/{sub}/{key}", "w").write(text)
PY
    # --check-config binds the metrics address. A pod has a network namespace of its own, so run
    # the check in one too when possible: on this host the port may be taken by another daemon.
    netns=()
    if unshare --net true 2>/dev/null; then netns=(unshare --net); fi
    for cfg in "$out/$name"/config/*.yaml; do  # steppewatch.yaml, and stories.yaml with the component
      "${netns[@]}" "$bin/steppewatchd" --check-config --config "$cfg" \
        --rules "$out/$name/rules" >"$out/$name.check" 2>&1 || {
        echo "FAIL: steppewatchd --check-config rejects $(basename "$cfg") of the $name rendering:"
        cat "$out/$name.check"; exit 1; }
      echo "ok: steppewatchd --check-config accepts the $name $(basename "$cfg") and rules ConfigMaps"
    done
  done
fi

sed 's/livenessProbe:/livenesProbe:/' "$out/base.yaml" >"$out/typo.yaml"
if node "$validate/validate.mjs" "$out/typo.yaml" >"$out/typo.log" 2>&1; then
  echo "FAIL: the validator accepted a misspelt field, so the checks above prove nothing"; exit 1
fi
grep -q livenesProbe "$out/typo.log" || { cat "$out/typo.log"; exit 1; }
echo "ok: the validator rejects a misspelt field"

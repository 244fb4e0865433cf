// Validates rendered Kubernetes manifests offline, for tests/deploy/kubernetes_test.sh:
//   node validate.mjs RENDERED.yaml [...]
// Two checks per object, because the Kubernetes OpenAPI schemas allow unknown fields:
//  1. the object's JSON schema (kubernetes-models, @kubernetes-models/prometheus-operator,
//     @kubernetes-models/keda: types, required fields, enums, formats), and
//  2. unknown fields (a misspelt `livenesProbe` the API server would silently drop): every object
//     becomes a typed TypeScript literal and `tsc --noEmit` reports excess properties.
// A kind this script has no model for is an error, so nothing passes unchecked.
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

// apiVersion -> module prefix of its models.
function modulePrefix(apiVersion) {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  }
  if (apiVersion.startsWith("keda.sh/")) return `@kubernetes-models/keda/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

const objects = [];
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      console.error(`${file}: YAML error: ${doc.errors[0].message}`);
      process.exit(1);
    }
    const obj = doc.toJS();
    if (obj) objects.push({ file, obj });
  }
}
if (objects.length === 0) {
  console.error("no objects to validate");
  process.exit(1);
}

let failures = 0;
const typed = [];
for (const { file, obj } of objects) {
  const what = `${file}: ${obj.kind}/${obj.metadata?.name}`;
  if (!obj.apiVersion || !obj.kind) {
    console.error(`${what}: missing apiVersion or kind`);
    failures++;
    continue;
  }
  const mod = `${modulePrefix(obj.apiVersion)}/${obj.kind}`;
  let Model;
  try {
    Model = (await import(mod))[obj.kind];
  } catch {
    Model = undefined;
  }
  if (!Model) {
    console.error(`${what}: no schema for ${obj.apiVersion} ${obj.kind} (${mod})`);
    failures++;
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    console.error(`${what}: schema: ${e.message}`);
    failures++;
  }
  typed.push({ what, mod, kind: obj.kind, obj });
}

// Unknown-field check: `export const o3: T3 = {...};` per object, T3 the model's interface;
// tsc's excess-property check names the unknown key and the type it is not part of. The file
// sits next to node_modules (module resolution) under a per-run name, and is removed after.
const file = join(here, `.manifests-${process.pid}.mts`);
try {
  const header = typed.map(({ mod, kind }, i) => `import type { I${kind} as T${i} } from "${mod}";`);
  const bodies = typed.map(({ obj }, i) => `export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};`);
  // First line (1-based) of each object in the file, to map tsc's line numbers back.
  const objectStart = [];
  let line = header.length + 1;
  for (const b of bodies) {
    objectStart.push(line);
    line += b.split("\n").length;
  }
  writeFileSync(file, [...header, ...bodies].join("\n") + "\n");
  const tsc = join(here, "node_modules", "typescript", "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--target", "es2022",
      "--module", "nodenext", "--moduleResolution", "nodenext", "--skipLibCheck", file],
      { cwd: here, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const out = `${e.stdout ?? ""}${e.stderr ?? ""}`;
    let mapped = 0;
    for (const m of out.matchAll(/\.mts\((\d+),\d+\): error (TS\d+: [^\n]*)/g)) {
      const at = Number(m[1]);
      let idx = objectStart.length - 1;
      while (idx > 0 && objectStart[idx] > at) idx--;
      console.error(`${typed[idx]?.what ?? "?"}: ${m[2]}`);
      failures++;
      mapped++;
    }
    if (mapped === 0) {
      console.error(`tsc failed:\n${out}`);
      failures++;
    }
  }
} finally {
  rmSync(file, { force: true });
}

if (failures) {
  console.error(`FAIL: ${failures} problem(s) in ${objects.length} objects`);
  process.exit(1);
}
console.log(`ok: ${objects.length} objects valid (${[...new Set(objects.map((o) => o.obj.kind))].join(", ")})`);

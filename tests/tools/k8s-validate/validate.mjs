// Validates every document of rendered Kubernetes manifests (helm template's output) against the official
// OpenAPI schemas, through kubernetes-models (built-in kinds) and @kubernetes-models/prometheus-operator
// (ServiceMonitor, PrometheusRule). Usage: node validate.mjs FILE... (or - for stdin).
// Prints one line per document, "ok <apiVersion> <kind> <name>" or "error <apiVersion> <kind> <name>: <why>",
// and exits 1 when any document fails: an unknown apiVersion or kind fails too, since nothing could check it.
// The models accept fields the schema does not name; the C# test checks those on the built-in kinds.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// Where each API group's models live; anything else is an unknown kind.
const modules = {
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

async function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" ||
      !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    return undefined;
  }
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  const root = modules[group] ?? "kubernetes-models";
  try {
    const module = await import(`${root}/${apiVersion}`);
    return module[kind];
  } catch {
    return undefined;
  }
}

function describe(error) {
  if (Array.isArray(error?.errors) && error.errors.length > 0) {
    return error.errors.map(e => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`).join("; ");
  }
  return String(error?.message ?? error);
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs FILE... (- for stdin)");
  process.exit(2);
}
let failed = false;
for (const file of files) {
  const text = readFileSync(file === "-" ? 0 : file, "utf8");
  for (const document of parseAllDocuments(text, { uniqueKeys: true })) {
    if (document.errors.length > 0) {
      console.log(`error - - -: ${file}: not YAML: ${document.errors.map(e => e.message).join("; ")}`);
      failed = true;
      continue;
    }
    const object = document.toJS();
    if (object === null || object === undefined) {
      continue; // an empty document (a template that rendered nothing)
    }
    const { apiVersion, kind } = object;
    const name = object.metadata?.name ?? "-";
    const label = `${apiVersion ?? "-"} ${kind ?? "-"} ${name}`;
    const Model = await modelFor(apiVersion, kind);
    if (typeof Model !== "function") {
      console.log(`error ${label}: no schema for this apiVersion and kind`);
      failed = true;
      continue;
    }
    try {
      new Model(object).validate();
      console.log(`ok ${label}`);
    } catch (error) {
      console.log(`error ${label}: ${describe(error)}`);
      failed = true;
    }
  }
}
process.exit(failed ? 1 : 0);

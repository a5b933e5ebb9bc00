#!/usr/bin/env node
// Offline checks of Kubernetes manifests: schemas from kubernetes-models (core, Knative, KEDA)
// plus the project's rules for what the schemas miss (see rules.mjs).
//
// Usage: node lint.mjs [--json] FILE...   (FILE "-" reads standard input)
// Each file may hold several YAML documents. Prints one line per finding,
//   FILE#DOC Kind/name [rule] message
// then a summary, and exits 1 when anything was found, 2 on a usage error.
import { readFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseAllDocuments } from "yaml";
import { lintDocuments } from "./rules.mjs";

// Parses every document of a file; YAML errors (duplicate keys included) become findings.
export async function lintText(text, label) {
  const findings = [];
  const docs = [];
  for (const [index, parsed] of parseAllDocuments(text, { uniqueKeys: true }).entries()) {
    const errors = [...parsed.errors];
    if (errors.length > 0) {
      for (const e of errors) findings.push({ index, name: "?", rule: "yaml", message: e.message.split("\n")[0] });
      docs.push(null);
    } else {
      docs.push(parsed.toJS());
    }
  }
  findings.push(...(await lintDocuments(docs)));
  return { documents: docs.filter((d) => d !== null).length, findings: findings.map((f) => ({ file: label, ...f })) };
}

async function main(argv) {
  const json = argv.includes("--json");
  const files = argv.filter((a) => a !== "--json");
  if (files.length === 0) {
    console.error("usage: node lint.mjs [--json] FILE...");
    return 2;
  }
  let documents = 0;
  const findings = [];
  for (const file of files) {
    const text = readFileSync(file === "-" ? 0 : file, "utf8");
    const result = await lintText(text, file === "-" ? "<stdin>" : file);
    documents += result.documents;
    findings.push(...result.findings);
  }
  if (json) {
    console.log(JSON.stringify({ documents, findings }, null, 2));
  } else {
    for (const f of findings) console.log(`${f.file}#${f.index} ${f.name} [${f.rule}] ${f.message}`);
    console.log(`deploy-lint: ${documents} document(s), ${findings.length} finding(s)`);
  }
  return findings.length === 0 ? 0 : 1;
}

if (process.argv[1] && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url) {
  process.exitCode = await main(process.argv.slice(2));
}

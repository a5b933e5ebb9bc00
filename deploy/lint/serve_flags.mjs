#!/usr/bin/env node
// Checks that the manifests start `tributary` only with flags the binary has: every
// `--flag` in the args of a container whose first argument is a subcommand (`serve`, ...)
// must appear in `tributary SUBCOMMAND --help`.
//
// Usage: node serve_flags.mjs TRIBUTARY_BINARY MANIFEST...
// Exits 0 when every flag exists, 1 when one does not, 2 on a usage error.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const [binary, ...files] = process.argv.slice(2);
if (!binary || files.length === 0) {
  console.error("usage: node serve_flags.mjs TRIBUTARY_BINARY MANIFEST...");
  process.exit(2);
}

const helpCache = new Map();
function helpOf(subcommand) {
  if (!helpCache.has(subcommand)) {
    let text = null;
    try {
      text = execFileSync(binary, [subcommand, "--help"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch {
      text = null;
    }
    helpCache.set(subcommand, text);
  }
  return helpCache.get(subcommand);
}

let checked = 0;
let failures = 0;
for (const file of files) {
  for (const parsed of parseAllDocuments(readFileSync(file, "utf8"))) {
    const doc = parsed.toJS();
    const spec = doc?.spec?.template?.spec;
    for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
      const args = c?.args ?? [];
      if (c?.command !== undefined || args.length === 0 || args[0].startsWith("-")) continue;
      const help = helpOf(args[0]);
      if (help === null) {
        console.log(`${file}: ${doc.kind}/${doc.metadata?.name} ${c.name}: \`${args[0]} --help\` failed: unknown subcommand`);
        ++failures;
        continue;
      }
      for (const arg of args.slice(1).filter((a) => a.startsWith("--"))) {
        const flag = arg.split("=")[0];
        ++checked;
        if (!new RegExp(`(^|[\\s,])${flag.replace(/[-]/g, "\\-")}(?![\\w-])`, "m").test(help)) {
          console.log(`${file}: ${doc.kind}/${doc.metadata?.name} ${c.name}: ${args[0]} has no flag ${flag}`);
          ++failures;
        }
      }
    }
  }
}
console.log(`serve-flags: ${checked} flag(s) checked, ${failures} unknown`);
process.exitCode = failures === 0 ? 0 : 1;

#!/usr/bin/env node
// Tests the lints against the fixtures in testdata/ (manifests *.yaml, Dockerfiles
// *.Dockerfile): each file starts with `# expect: RULE` (or `# expect: none`), and must produce
// findings of exactly that rule (or none). Every rule must have a fixture that it rejects. Exits 0 when all pass, 1 otherwise.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { lintText } from "./lint.mjs";
import { kRuleNames } from "./rules.mjs";
import { kDockerfileRules, lintDockerfile } from "./dockerfile_lint.mjs";

const dir = join(dirname(fileURLToPath(import.meta.url)), "testdata");
let failures = 0;
const rejectedBy = new Set();
const allRules = [...kRuleNames, ...kDockerfileRules];
const fixtures = readdirSync(dir).filter((f) => f.endsWith(".yaml") || f.endsWith(".Dockerfile")).sort();
for (const file of fixtures) {
  const text = readFileSync(join(dir, file), "utf8");
  const expect = /^# expect: ([a-z0-9-]+)/.exec(text)?.[1];
  if (!expect || (expect !== "none" && !allRules.includes(expect))) {
    console.log(`FAIL ${file}: first line must be "# expect: RULE" with a known rule or none`);
    ++failures;
    continue;
  }
  const findings = file.endsWith(".Dockerfile") ? lintDockerfile(text) : (await lintText(text, file)).findings;
  const rules = [...new Set(findings.map((f) => f.rule))];
  const ok = expect === "none" ? findings.length === 0 : rules.length === 1 && rules[0] === expect;
  if (ok) {
    if (expect !== "none") rejectedBy.add(expect);
    console.log(`ok   ${file}: ${expect === "none" ? "accepted" : `rejected by ${expect}`}`);
  } else {
    ++failures;
    console.log(`FAIL ${file}: expected ${expect === "none" ? "no findings" : `only [${expect}]`}, got:`);
    for (const f of findings) console.log(`       [${f.rule}] ${f.message}`);
    if (findings.length === 0) console.log("       (no findings)");
  }
}
for (const rule of allRules.filter((r) => !rejectedBy.has(r))) {
  console.log(`FAIL rule ${rule} has no fixture that it rejects`);
  ++failures;
}
console.log(failures === 0 ? "lint_test: all passed" : `lint_test: ${failures} failure(s)`);
process.exitCode = failures === 0 ? 0 : 1;

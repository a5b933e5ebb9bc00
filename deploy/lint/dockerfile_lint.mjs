#!/usr/bin/env node
// Static checks of the Dockerfiles in deploy/docker/ (no Docker daemon needed).
//
// Rules:
//   dockerfile-base        every FROM is debian:bookworm[-slim] or an earlier stage
//   dockerfile-build       a stage runs scripts/install-deps and scripts/build
//   dockerfile-apt         apt-get install uses --no-install-recommends, and the same RUN
//                          removes /var/lib/apt/lists
//   dockerfile-user        the final stage sets a USER other than root, unless the file says
//                          `# runs-as: root`
//   dockerfile-entrypoint  ENTRYPOINT and CMD use the exec (JSON array) form
//   dockerfile-stage       COPY --from names an earlier stage
//
// Usage: node dockerfile_lint.mjs DOCKERFILE...  Exits 1 when anything was found.
import { readFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";

export const kDockerfileRules = ["dockerfile-base", "dockerfile-build", "dockerfile-apt",
  "dockerfile-user", "dockerfile-entrypoint", "dockerfile-stage"];

// Instructions with continuation lines joined; comments dropped.
function instructions(text) {
  const out = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (current === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue;
    current += (current ? " " : "") + line.replace(/\\$/, "").trim();
    if (!line.endsWith("\\")) {
      const m = /^(\S+)\s*(.*)$/.exec(current);
      out.push({ op: m[1].toUpperCase(), args: m[2] });
      current = "";
    }
  }
  return out;
}

export function lintDockerfile(text) {
  const findings = [];
  const report = (rule, message) => findings.push({ rule, message });
  const stages = [];
  let user = null;
  let installDeps = false;
  let build = false;
  for (const { op, args } of instructions(text)) {
    if (op === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      const image = m?.[1] ?? args;
      if (!/^debian:bookworm(-slim)?$/.test(image) && !stages.includes(image)) {
        report("dockerfile-base", `FROM ${image}: use debian:bookworm or debian:bookworm-slim`);
      }
      stages.push(m?.[2] ?? String(stages.length));
      user = null;
    } else if (op === "RUN") {
      if (/scripts\/install-deps/.test(args)) installDeps = true;
      if (/scripts\/build/.test(args)) build = true;
      if (/apt-get\s+(-\S+\s+)*install/.test(args)) {
        if (!/--no-install-recommends/.test(args)) report("dockerfile-apt", "apt-get install without --no-install-recommends");
        if (!/rm -rf \/var\/lib\/apt\/lists/.test(args)) report("dockerfile-apt", "apt-get install without rm -rf /var/lib/apt/lists/* in the same RUN");
      }
    } else if (op === "USER") {
      user = args.split(":")[0];
    } else if (op === "ENTRYPOINT" || op === "CMD") {
      try {
        if (!Array.isArray(JSON.parse(args))) throw new Error();
      } catch {
        report("dockerfile-entrypoint", `${op} ${args}: use the exec form ["prog", "arg"]`);
      }
    } else if (op === "COPY" || op === "ADD") {
      const from = /--from=(\S+)/.exec(args)?.[1];
      if (from !== undefined && !stages.slice(0, -1).includes(from)) {
        report("dockerfile-stage", `COPY --from=${from}: no earlier stage of that name`);
      }
    }
  }
  if (!installDeps || !build) report("dockerfile-build", "no stage runs scripts/install-deps and scripts/build");
  const rootAllowed = /^# runs-as: root$/m.test(text);
  if (!rootAllowed && (user === null || user === "root" || user === "0")) {
    report("dockerfile-user", "the final stage runs as root: add USER with a non-root uid");
  }
  return findings;
}

if (process.argv[1] && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url) {
  const files = process.argv.slice(2);
  let count = 0;
  for (const file of files) {
    for (const f of lintDockerfile(readFileSync(file, "utf8"))) {
      console.log(`${file} [${f.rule}] ${f.message}`);
      ++count;
    }
  }
  console.log(`dockerfile-lint: ${files.length} file(s), ${count} finding(s)`);
  process.exitCode = count === 0 ? 0 : 1;
}

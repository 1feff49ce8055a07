// The JAX half of `npm run bench`: a Python venv (bench/.venv, gitignored) with pinned JAX from PyPI, made on first
// use, and flip_jax.py run in it on the plan, answering one measurement at a time over its stdin/stdout. Also where the GPU bench finds the CUDA
// PJRT plugin that JAX uses, so that flip loads the very same one.
import { createHash } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { userEnv } from '../runtime-native/host_start.mjs';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Rep } from './flip_bench.ts';
import { summarizeHlo, type HloSummary } from './hlo.ts';
import type { BenchPlan, BenchTarget } from './plan.ts';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const VENV = path.join(BENCH_DIR, '.venv');

export class BenchError extends Error {}

/**
 * Where to look for a Python ≥ 3.12, in order: python3.12, python3.13, python3 on PATH, then the interpreters pyenv
 * and uv keep outside PATH ($PYENV_ROOT or ~/.pyenv/versions/3.x*, ~/.local/share/uv/python/cpython-3.x*): 3.12 first
 * (the version bench/results.json was measured with), then newer ones. A pyenv shim such as python3.12 is on PATH
 * but fails unless that version is selected: hence the folders.
 */
export function pythonCandidates(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string[] {
  const out = ['python3.12', 'python3.13', 'python3'];
  const minor = (v: string) => Number(/^(?:cpython-)?3\.(\d+)/.exec(v)?.[1] ?? -1);
  const patch = (v: string) => Number(/^(?:cpython-)?3\.\d+\.(\d+)/.exec(v)?.[1] ?? -1);
  const order = (a: string, b: string) => minor(a) - minor(b) || patch(b) - patch(a);
  const dirs: [string, string][] = [
    [path.join(env.PYENV_ROOT || path.join(home, '.pyenv'), 'versions'), 'bin/python3'],
    [path.join(env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'uv', 'python'), 'bin/python3'],
  ];
  for (const [dir, bin] of dirs) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const v of names.filter((n) => minor(n) >= 12).sort(order)) {
      const exe = path.join(dir, v, bin);
      if (existsSync(exe)) out.push(exe);
    }
  }
  return out;
}

const isPython312 = (c: string, env: NodeJS.ProcessEnv): boolean => {
  const r = spawnSync(c, ['-c', 'import sys, venv; print(sys.version_info >= (3, 12))'], { encoding: 'utf8', env });
  return r.status === 0 && r.stdout.trim() === 'True';
};

/** A Python ≥ 3.12 (JAX 0.11 needs it) with venv: $FLIP_BENCH_PYTHON, else the first of {@link pythonCandidates}. */
export function findPython(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  const chosen = env.FLIP_BENCH_PYTHON;
  if (chosen) {
    if (isPython312(chosen, env)) return chosen;
    throw new BenchError(`FLIP_BENCH_PYTHON=${chosen} is not a Python >= 3.12 with venv (JAX 0.11.2 requires 3.12): point it at one, or run with --skip-jax.`);
  }
  const candidates = pythonCandidates(env, home);
  for (const c of candidates) if (isPython312(c, env)) return c;
  throw new BenchError(`the JAX side needs Python >= 3.12 (JAX 0.11.2 requires it) and found none (looked for python3.12, python3.13, python3 on PATH, ` +
    `pyenv's and uv's 3.12+): set FLIP_BENCH_PYTHON=/path/to/python3.12, or run with --skip-jax for the flip half alone.`);
}

function run(cmd: string, args: readonly string[], what: string, env?: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env: env ?? process.env });
    p.on('error', (e) => reject(new BenchError(`${what}: ${e.message}`)));
    p.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new BenchError(`${what} failed (${signal ?? `exit ${code}`})`))));
  });
}

/** The JAX version both benches pin (bench/requirements-*.txt). */
export const JAX_VERSION = '0.11.2';

/**
 * A Python that already has the GPU bench's JAX (jax + jax_plugins.xla_cuda13): $FLIP_BENCH_PYTHON, bench/.venv, or
 * python3. GPU machines may have no route to PyPI, so an installed JAX 0.11.2 is used as it is.
 */
function preinstalledGpuPython(log: (s: string) => void): string | null {
  const venvPython = path.join(VENV, 'bin', 'python');
  const candidates = [process.env.FLIP_BENCH_PYTHON, existsSync(venvPython) ? venvPython : undefined, 'python3'].filter((c): c is string => !!c);
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import jax, jax_plugins.xla_cuda13; print(jax.__version__)'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const v = r.stdout.trim();
    if (v !== JAX_VERSION) log(`note: ${c} has jax ${v}, not the pinned ${JAX_VERSION}; using it`);
    return c;
  }
  return null;
}

/**
 * A Python with the target's JAX: on GPU one that has it already (see preinstalledGpuPython), else bench/.venv with
 * the target's pinned requirements installed from PyPI (re-installed when the requirements file changes).
 */
export async function ensureVenv(target: BenchTarget, log: (s: string) => void): Promise<string> {
  if (target === 'gpu') {
    const ready = preinstalledGpuPython(log);
    if (ready) return ready;
  }
  const req = path.join(BENCH_DIR, `requirements-${target}.txt`);
  const text = readFileSync(req, 'utf8') + (target === 'gpu' ? readFileSync(path.join(BENCH_DIR, 'requirements-cpu.txt'), 'utf8') : '');
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const python = path.join(VENV, 'bin', 'python');
  const stamp = path.join(VENV, `flip-bench-${target}.stamp`);
  if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash) return python;
  if (!existsSync(python)) {
    const base = findPython();
    log(`creating ${path.relative(process.cwd(), VENV)} with ${base}`);
    await run(base, ['-m', 'venv', VENV], 'python -m venv');
  }
  log(`installing ${path.basename(req)} into ${path.relative(process.cwd(), VENV)} with pip${target === 'gpu' ? ' (the CUDA wheels are several GB)' : ''} ...`);
  await run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', '-r', req], `pip install -r ${path.basename(req)}`);
  writeFileSync(stamp, `${hash}\n`);
  return python;
}

/** The xla_cuda_plugin.so of that Python's jax-cuda13-pjrt (`import jax_plugins.xla_cuda13`), for flip to load too. */
export function venvCudaPlugin(python: string): string {
  const r = spawnSync(python, ['-c', 'import os, jax_plugins.xla_cuda13 as p; print(os.path.dirname(p.__file__))'], { encoding: 'utf8' });
  const dir = r.stdout.trim();
  const so = path.join(dir, 'xla_cuda_plugin.so');
  if (r.status !== 0 || !dir || !existsSync(so)) {
    throw new BenchError(`${python} has no jax_plugins/xla_cuda13/xla_cuda_plugin.so (python said: ${(r.stderr || r.stdout).trim().split('\n').at(-1) ?? ''})`);
  }
  return so;
}

export interface JaxStep {
  maskRatio: number;
  compileSeconds: number;
  stepSeconds: number[];
  medianStepSeconds: number;
  cpuSeconds: number[];
  otherCores: (number | null)[];
  losses: number[];
  xlaFlops: number | null;
  hlo: HloSummary | null;
}

export interface JaxCompile {
  name: string;
  batchSize: number;
  traceSeconds: number;
  lowerSeconds: number;
  compileSeconds: number;
  totalSeconds: number;
  stablehloChars: number;
  otherCores: number | null;
  hlo: HloSummary | null;
}

export interface JaxHalfResult {
  jax: string;
  jaxlib: string | null;
  python: string;
  device: { platform: string; kind: string };
  peak: { size: number; seconds: number[]; flopsPerSecond: number; otherCores: number | null };
  steps: JaxStep[];
  compile: JaxCompile[];
}

type Info = Pick<JaxHalfResult, 'jax' | 'jaxlib' | 'python' | 'device'>;

/** A repeated measurement on the JAX side (finish is remote, hence a Promise). */
export interface Session<R> {
  rep(): Promise<Rep>;
  finish(): Promise<R>;
}
interface RawStep extends Omit<JaxStep, 'hlo'> { hloFile: string | null }
interface RawCompile extends Omit<JaxCompile, 'hlo'> { hloFile: string | null }

const summarize = (file: string | null): HloSummary | null => (file && existsSync(file) ? summarizeHlo(readFileSync(file, 'utf8')) : null);

/**
 * flip_jax.py running in the venv on the plan, answering one measurement per call (its optimized HLO goes to
 * `workdir/hlo`). On a GPU it gets `gpuMemoryFraction` of the device memory, flip's client keeping the rest.
 */
export class JaxSide {
  readonly #child: ChildProcess;
  readonly #lines: AsyncIterator<string>;
  #exited: string | null = null;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    child.on('exit', (code, signal) => (this.#exited = signal ?? `exit ${code}`));
  }

  static start(plan: BenchPlan, o: { python: string; workdir: string; gpuMemoryFraction?: number }): JaxSide {
    mkdirSync(o.workdir, { recursive: true });
    const planFile = path.join(o.workdir, 'jax-plan.json');
    const { target, ...rest } = plan;
    writeFileSync(planFile, JSON.stringify({ ...rest, platform: target, steps: { ...plan.steps, hloDir: path.join(o.workdir, 'hlo') } }));
    // JAX picks its backend itself: name it, so that a CPU run never probes for CUDA and a GPU run never falls back.
    // JAX runs in the environment the user gave the bench, without what flip's start-up added for itself.
    const env: NodeJS.ProcessEnv = { ...userEnv(process.env), JAX_PLATFORMS: target === 'gpu' ? 'cuda' : 'cpu' };
    delete env.PJRT_PLUGIN_PATH;
    if (o.gpuMemoryFraction !== undefined) env.XLA_PYTHON_CLIENT_MEM_FRACTION = String(o.gpuMemoryFraction);
    const child = spawn(o.python, [path.join(BENCH_DIR, 'flip_jax.py'), planFile], { stdio: ['pipe', 'pipe', 'inherit'], env });
    return new JaxSide(child);
  }

  async #call<T>(cmd: Record<string, unknown>): Promise<T> {
    if (this.#exited) throw new BenchError(`bench/flip_jax.py has exited (${this.#exited})`);
    this.#child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    const next = await this.#lines.next();
    if (next.done) throw new BenchError(`bench/flip_jax.py exited (${this.#exited ?? 'closed its output'}) during ${String(cmd.op)}`);
    const answer = JSON.parse(next.value) as { ok: true; result: T } | { ok: false; error: string };
    if (!answer.ok) throw new BenchError(`bench/flip_jax.py: ${String(cmd.op)} failed: ${answer.error}`);
    return answer.result;
  }

  info(): Promise<Info> {
    return this.#call<Info>({ op: 'info' });
  }
  /** The matmul session: compiled and run once; one timed matmul per rep. */
  async peak(): Promise<Session<JaxHalfResult['peak']>> {
    const { id } = await this.#call<{ id: number }>({ op: 'peak' });
    return { rep: () => this.#call<Rep>({ op: 'rep', id }), finish: () => this.#call<JaxHalfResult['peak']>({ op: 'finish', id }) };
  }
  /** A mask's train-step session: compiled and warmed up; one timed step per rep (sessions share one state). */
  async steps(mask: number): Promise<Session<JaxStep>> {
    const { id } = await this.#call<{ id: number }>({ op: 'steps', mask });
    return {
      rep: () => this.#call<Rep>({ op: 'rep', id }),
      finish: async () => {
        const { hloFile, ...s } = await this.#call<RawStep>({ op: 'finish', id });
        return { ...s, hlo: summarize(hloFile) };
      },
    };
  }
  async compile(name: string): Promise<JaxCompile> {
    const { hloFile, ...c } = await this.#call<RawCompile>({ op: 'compile', name });
    return { ...c, hlo: summarize(hloFile) };
  }
  async close(): Promise<void> {
    if (this.#exited) return;
    const done = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin!.end(`${JSON.stringify({ op: 'quit' })}\n`);
    await done;
  }
  kill(): void {
    if (!this.#exited) this.#child.kill();
  }
}

// The JAX half of `npm run bench`: a Python venv (bench/.venv, gitignored) with pinned JAX from PyPI, made on first
// use, and flip_jax.py run in it on the plan; its results come back as JSON. Also where the GPU bench finds the CUDA
// PJRT plugin that JAX uses, so that flip loads the very same one.
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarizeHlo, type HloSummary } from './hlo.ts';
import type { BenchPlan, BenchTarget } from './plan.ts';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const VENV = path.join(BENCH_DIR, '.venv');

export class BenchError extends Error {}

/** A Python ≥ 3.12 (JAX 0.11 needs it): $FLIP_BENCH_PYTHON, else python3.13, python3.12, python3 on PATH. */
export function findPython(): string {
  const candidates = process.env.FLIP_BENCH_PYTHON ? [process.env.FLIP_BENCH_PYTHON] : ['python3.13', 'python3.12', 'python3'];
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import sys; print(sys.version_info >= (3, 12))'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() === 'True') return c;
  }
  throw new BenchError(`the JAX side needs Python >= 3.12 (JAX 0.11.2 requires it); none of ${candidates.join(', ')} is one. ` +
    'Set FLIP_BENCH_PYTHON to one, or run with --skip-jax for the flip half alone.');
}

function run(cmd: string, args: readonly string[], what: string, env?: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env: env ?? process.env });
    p.on('error', (e) => reject(new BenchError(`${what}: ${e.message}`)));
    p.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new BenchError(`${what} failed (${signal ?? `exit ${code}`})`))));
  });
}

/** bench/.venv with the target's pinned requirements installed (re-installed when the requirements file changes). */
export async function ensureVenv(target: BenchTarget, log: (s: string) => void): Promise<string> {
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

/** The xla_cuda_plugin.so of the venv's jax-cuda13-pjrt (`import jax_plugins.xla_cuda13`), for flip to load too. */
export function venvCudaPlugin(python: string): string {
  const r = spawnSync(python, ['-c', 'import os, jax_plugins.xla_cuda13 as p; print(os.path.dirname(p.__file__))'], { encoding: 'utf8' });
  const dir = r.stdout.trim();
  const so = path.join(dir, 'xla_cuda_plugin.so');
  if (r.status !== 0 || !dir || !existsSync(so)) {
    throw new BenchError(`no jax_plugins/xla_cuda13/xla_cuda_plugin.so in ${VENV} (python said: ${(r.stderr || r.stdout).trim().split('\n').at(-1) ?? ''})`);
  }
  return so;
}

export interface JaxStep {
  maskRatio: number;
  compileSeconds: number;
  stepSeconds: number[];
  medianStepSeconds: number;
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
  hlo: HloSummary | null;
}

export interface JaxHalfResult {
  jax: string;
  jaxlib: string | null;
  python: string;
  device: { platform: string; kind: string };
  peak: { size: number; seconds: number[]; flopsPerSecond: number };
  steps: JaxStep[];
  compile: JaxCompile[];
}

interface RawStep extends Omit<JaxStep, 'hlo'> { hloFile: string | null }
interface RawCompile extends Omit<JaxCompile, 'hlo'> { hloFile: string | null }

const summarize = (file: string | null): HloSummary | null => (file && existsSync(file) ? summarizeHlo(readFileSync(file, 'utf8')) : null);

/** flip_jax.py on the plan, in the venv; its optimized HLO goes to `workdir/hlo`. */
export async function runJaxHalf(plan: BenchPlan, o: { python: string; workdir: string }): Promise<JaxHalfResult> {
  mkdirSync(o.workdir, { recursive: true });
  const planFile = path.join(o.workdir, 'jax-plan.json');
  const outFile = path.join(o.workdir, 'jax-results.json');
  const { target, ...rest } = plan;
  writeFileSync(planFile, JSON.stringify({ ...rest, platform: target, steps: { ...plan.steps, hloDir: path.join(o.workdir, 'hlo') } }));
  // JAX picks its backend itself: name it, so that a CPU run never probes for CUDA and a GPU run never falls back.
  const env: NodeJS.ProcessEnv = { ...process.env, JAX_PLATFORMS: target === 'gpu' ? 'cuda' : 'cpu' };
  delete env.PJRT_PLUGIN_PATH;
  await run(o.python, [path.join(BENCH_DIR, 'flip_jax.py'), planFile, outFile], 'bench/flip_jax.py', env);
  const raw = JSON.parse(readFileSync(outFile, 'utf8')) as Omit<JaxHalfResult, 'steps' | 'compile'> & { steps: RawStep[]; compile: RawCompile[] };
  return {
    ...raw,
    steps: raw.steps.map(({ hloFile, ...s }) => ({ ...s, hlo: summarize(hloFile) })),
    compile: raw.compile.map(({ hloFile, ...c }) => ({ ...c, hlo: summarize(hloFile) })),
  };
}

// Running traced DSL functions on the real PJRT CPU plugin: trace → StableHLO (emitter) → compile → run → host arrays.
import { numElements } from '../../compiler/ir/index.ts';
import { emitFunc } from '../../compiler/stablehlo/index.ts';
import { traceFunc } from '../../dsl/index.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';

let client: Promise<Client> | undefined;
/** One CPU client per test file (vitest runs each file in its own fork). */
function cpu(): Promise<Client> {
  client ??= openClient({ target: 'cpu', devices: 1 });
  return client;
}

export type Host = Float32Array | Int32Array;

/** Trace `fn` on the specs, run it on `args` (one host array per tensor leaf, in order), return its results. */
export async function runTraced(fn: (...args: never[]) => unknown, specs: readonly unknown[], args: readonly Host[]): Promise<Float64Array[]> {
  const { func } = traceFunc(fn, specs);
  const c = await cpu();
  const exe = await c.compile(emitFunc(func));
  const bufs = func.params.map((p, i) => {
    const a = args[i]!;
    if (a.length !== numElements(p.type.shape)) throw new Error(`arg ${i}: ${a.length} values for [${p.type.shape.join(', ')}]`);
    if (p.type.dtype === 'f32' && a instanceof Float32Array) return c.toDevice(a, p.type.shape, 'f32');
    if (p.type.dtype === 'i32' && a instanceof Int32Array) return c.toDevice(a, p.type.shape, 'i32');
    throw new Error(`arg ${i}: no host conversion from ${a.constructor.name} to ${p.type.dtype}`);
  });
  const outs = await exe.run(bufs);
  const hosts = await Promise.all(outs.map((b) => b.toHost()));
  for (const b of [...bufs, ...outs]) b.dispose();
  exe.dispose();
  return hosts.map((h) => Float64Array.from(h as ArrayLike<number>, Number));
}

/** Deterministic uniform numbers in [lo, hi) (an LCG; tests need reproducible inputs, not good randomness). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + ((hi - lo) * s) / 2 ** 32;
  });
}

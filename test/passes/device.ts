// Running IR functions on the real PJRT CPU plugin for the pass tests: lower with the StableHLO emitter, compile, run.
import { isFloat, type Func } from '../../compiler/ir/index.ts';
import { emitFunc } from '../../compiler/stablehlo/index.ts';
import { openClient, type Client, type Executable } from '../../runtime-native/index.ts';

let client: Promise<Client> | undefined;
/** One CPU client per test process (vitest runs each file in its own fork). */
export function cpu(): Promise<Client> {
  client ??= openClient({ target: 'cpu', devices: 1 });
  return client;
}

export type HostValue = Float64Array | Float32Array | Int32Array;

export async function compile(f: Func): Promise<Executable> {
  return (await cpu()).compile(emitFunc(f));
}

/** Run a compiled `f` on host arrays (typed as f's params); results come back as plain number arrays. */
export async function run(f: Func, exe: Executable, args: readonly HostValue[]): Promise<Float64Array[]> {
  const c = await cpu();
  const bufs = f.params.map((p, i) => {
    const a = args[i]!;
    if (p.type.dtype === 'f64') return c.toDevice(a instanceof Float64Array ? a : Float64Array.from(a), p.type.shape, 'f64');
    if (p.type.dtype === 'f32') return c.toDevice(a instanceof Float32Array ? a : Float32Array.from(a), p.type.shape, 'f32');
    if (p.type.dtype === 'i32') return c.toDevice(a instanceof Int32Array ? a : Int32Array.from(a), p.type.shape, 'i32');
    throw new Error(`test runner: no host conversion for ${p.type.dtype}`);
  });
  const outs = await exe.run(bufs);
  const hosts = await Promise.all(outs.map((b) => b.toHost()));
  for (const b of [...bufs, ...outs]) b.dispose();
  return hosts.map((h, i) => {
    if (!isFloat(f.results[i]!.type.dtype) && !(h instanceof Int32Array)) throw new Error(`test runner: result ${i} is ${f.results[i]!.type.dtype}`);
    return Float64Array.from(h as ArrayLike<number>);
  });
}

/** Compile and run once. */
export async function evaluate(f: Func, args: readonly HostValue[]): Promise<Float64Array[]> {
  return run(f, await compile(f), args);
}

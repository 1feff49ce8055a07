// Runs any StableHLO module's @main on a PJRT plugin with inputs from safetensors (or, when asked,
// seeded random ones of the declared types) and returns its outputs: what `flipc run` does, and how the golden
// corpus is checked against JAX.
import { FlipError } from '../compiler/ir/errors.ts';
import { DTYPES, DTYPE_INFO, dtypeOfMlir, f32ToBf16, f32ToF8, newHostArray, type DType } from '../compiler/ir/dtype.ts';
import { functions, getAttr, parseModule, printModule, printType, verifyModule, MlirVerifyError, type FuncAst, type TypeAst } from '../compiler/mlir/index.ts';
import { annotateImpliedShardings, entryTilings, ShardingError, type Tiling } from '../compiler/mlir/sharding.ts';
import { openClient, PjrtError, type Buffer, type Client, type Target } from '../runtime-native/index.ts';
import type { TensorData, TensorMap } from '../io/safetensors.ts';
import { evalCheck, extractChecks, type CheckResult } from './mlir_checks.ts';

export interface RunMlirOptions {
  target?: Target;
  /** A PJRT plugin path overriding the target's installed one. */
  plugin?: string;
  /** Inputs named `input.0`, `input.1`, ... in @main's parameter order; a missing one is an error unless `randomInputs`. */
  inputs?: TensorMap;
  /** Fill the inputs that `inputs` lacks (all of them without `inputs`) with seeded random numbers. */
  randomInputs?: boolean;
  /** Seed of the random inputs. */
  seed?: number;
  /** Run a sharded module whole on one device (its shardings ignored) instead of SPMD over its partitions. */
  oneDevice?: boolean;
  /** A client to run on (kept open; running many modules pays for one), used when it has the devices the module needs. */
  client?: Client;
}

export interface RunMlirResult {
  inputs: TensorMap;
  /** `output.0`, `output.1`, ... in @main's result order. */
  outputs: TensorMap;
  /** Things the caller may want to tell the user (e.g. a sharded module run on one device). */
  notes: string[];
  /** How many devices it ran on (the partitions of an SPMD run). */
  devices: number;
  /** The module's `check.*` custom calls (StableHLO test data), compared on the host; empty when it has none. */
  checks: CheckResult[];
}

interface ArgSpec {
  dtype: DType;
  shape: number[];
}

function specOf(t: TypeAst, what: string): ArgSpec {
  if (t.kind !== 'tensor' || t.shape === null || t.shape.some((d) => d === null)) throw new FlipError(`${what} has type ${printType(t)}; flipc run takes statically shaped tensors`);
  const e = printType(t.element);
  const dtype = dtypeOfMlir(e);
  if (!dtype) throw new FlipError(`${what} has element type ${e}; supported: ${DTYPES.map((d) => DTYPE_INFO[d].mlir).join(', ')}`);
  return { dtype, shape: t.shape as number[] };
}

const show = (s: ArgSpec): string => `${s.dtype}[${s.shape.join(', ')}]`;

/** A small seeded generator (mulberry32): the same seed gives the same inputs on every machine. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function f32ToF16Bits(x: number): number {
  // Inputs are in [-1, 1): normal or subnormal halves, no overflow.
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a < 6.103515625e-5) return sign | Math.round(a / 5.960464477539063e-8);
  const e = Math.floor(Math.log2(a));
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return sign | ((e + 15 + (m === 1024 ? 1 : 0)) << 10) | (m === 1024 ? 0 : m);
}

export function randomTensor(spec: ArgSpec, next: () => number): TensorData {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const data = newHostArray(spec.dtype, n);
  for (let i = 0; i < n; i++) {
    const u = next() * 2 - 1;
    switch (spec.dtype) {
      case 'f32': case 'f64': (data as Float32Array | Float64Array)[i] = u; break;
      case 'bf16': (data as Uint16Array)[i] = f32ToBf16(u); break;
      case 'f16': (data as Uint16Array)[i] = f32ToF16Bits(u); break;
      case 'f8e4m3fn': case 'f8e5m2': case 'f8e4m3fnuz': case 'f8e5m2fnuz': (data as Uint8Array)[i] = f32ToF8(u, spec.dtype); break;
      case 'f8e8m0fnu': (data as Uint8Array)[i] = f32ToF8(Math.abs(u), spec.dtype); break;
      case 'i32': case 'u32': case 'u8': case 'i8': case 'i16': case 'u16': (data as Int32Array)[i] = Math.floor(next() * 8); break;
      case 'i64': case 'u64': (data as BigInt64Array)[i] = BigInt(Math.floor(next() * 8)); break;
      case 'i1': (data as Uint8Array)[i] = next() < 0.5 ? 0 : 1; break;
      case 'c64': case 'c128': (data as Float32Array | Float64Array)[2 * i] = u; (data as Float32Array | Float64Array)[2 * i + 1] = next() * 2 - 1; break;
    }
  }
  return { dtype: spec.dtype, shape: [...spec.shape], data } as TensorData;
}

function mainOf(funcs: FuncAst[], filename: string): FuncAst {
  const main = funcs.find((f) => f.name === 'main') ?? funcs.find((f) => f.visibility !== 'private' && f.body);
  if (!main?.body) throw new FlipError(`${filename}: no public function to run (expected func.func public @main)`);
  return main;
}

export async function runMlir(text: string, filename: string, opts: RunMlirOptions = {}): Promise<RunMlirResult> {
  const m = parseModule(text, { filename });
  const diags = verifyModule(m);
  if (diags.some((d) => d.severity === 'error')) throw new MlirVerifyError(diags);
  const main = mainOf(functions(m), filename);
  const declared = main.results.length;
  const checkOps = extractChecks(m, main);
  if (checkOps.length) text = printModule(m);
  const params = main.args.map((a, i) => specOf(a.type, `argument #${i} of @${main.name}`));
  const results = main.results.map((r, i) => specOf(r.type, i < declared ? `result #${i} of @${main.name}` : `operand #${(i - declared) % 2} of ${checkOps[(i - declared) >> 1]!.where}'s check.${checkOps[(i - declared) >> 1]!.kind}`));

  const names = params.map((_, i) => `input.${i}`);
  const range = params.length > 1 ? `input.0 .. input.${params.length - 1}` : params.length ? 'input.0' : 'no inputs';
  if (!opts.inputs && !opts.randomInputs && params.length) {
    throw new FlipError(`pass --inputs <file.safetensors> with ${range}, or --random-inputs [--seed N] for seeded random ones`);
  }
  const missing = names.filter((n) => !opts.inputs?.[n]);
  if (opts.inputs && !opts.randomInputs && missing.length) {
    const list = missing.map((n) => `${n} (${show(params[names.indexOf(n)]!)})`).join(', ');
    throw new FlipError(`the inputs file lacks ${list} of @${main.name} (--random-inputs fills missing ones with seeded random numbers)`);
  }
  const next = random(opts.seed ?? 0);
  const inputs: TensorMap = {};
  params.forEach((p, i) => {
    const name = names[i]!;
    const given = opts.inputs?.[name];
    if (!given) {
      inputs[name] = randomTensor(p, next);
      return;
    }
    if (given.dtype !== p.dtype || given.shape.length !== p.shape.length || given.shape.some((d, k) => d !== p.shape[k])) {
      throw new FlipError(`${name}: @${main.name} expects ${show(p)}, the inputs file has ${show(given)}`);
    }
    inputs[name] = given;
  });
  if (opts.inputs) {
    const extra = Object.keys(opts.inputs).filter((k) => !(k in inputs));
    const stray = extra.filter((k) => !k.startsWith('output.'));
    if (stray.length) throw new FlipError(`the inputs file has tensors @${main.name} does not take: ${stray.join(', ')} (it takes input.0 .. input.${params.length - 1})`);
  }

  const notes: string[] = [];
  const partitions = Number((getAttr({ properties: [], attributes: m.attributes }, 'mhlo.num_partitions') as { value?: bigint } | undefined)?.value ?? 1);
  const spmd = partitions > 1 && !opts.oneDevice;
  if (partitions > 1 && !spmd) {
    // Automatic (GSPMD / Shardy) shardings do not change what a module computes: run it whole on one device.
    notes.push(`${filename} is sharded ${partitions} ways; running it on one device with its shardings ignored`);
  }
  let tilings: { args: Tiling[]; results: Tiling[] } | undefined;
  if (spmd) {
    try {
      if (annotateImpliedShardings(main).length) text = printModule(m);
      tilings = entryTilings(m, main, partitions);
    } catch (e) {
      if (e instanceof ShardingError) throw new FlipError(`${filename}: ${e.message} (--one-device runs it unpartitioned)`);
      throw e;
    }
  }
  const target = opts.target ?? 'cpu';
  const shared = opts.client && (!spmd || opts.client.devices.length >= partitions) ? opts.client : undefined;
  const client = shared ?? (await openClient({ target, ...(opts.plugin ? { plugin: opts.plugin } : {}), ...(spmd && target === 'cpu' ? { devices: partitions } : {}) }));
  const buffers: Buffer[] = [];
  try {
    if (spmd && client.devices.length < partitions) {
      throw new FlipError(`${filename} is sharded ${partitions} ways but the ${target} client has ${client.devices.length} devices (--one-device runs it on one)`);
    }
    const shardy = m.body.some((x) => x.kind === 'op' && x.name === 'sdy.mesh');
    let exe;
    try {
      exe = await client.compile(text, { numPartitions: spmd ? partitions : 1, numReplicas: 1, ...(spmd && shardy ? { shardy: true } : {}), cache: false });
    } catch (e) {
      if (e instanceof PjrtError) throw new FlipError(`${filename}: the ${client.target} plugin could not compile it: ${e.message}`);
      throw e;
    }
    const ins = Object.values(inputs);
    const outputs: TensorMap = {};
    if (!tilings) {
      for (const p of ins) buffers.push(client.toDevice(p.data, p.shape, p.dtype));
      const out = await exe.run(buffers);
      buffers.push(...out);
      if (out.length !== results.length) throw new FlipError(`${filename}: the executable returned ${out.length} outputs, @${main.name} declares ${results.length}`);
      for (const [i, b] of out.entries()) outputs[`output.${i}`] = { dtype: b.dtype, shape: [...b.shape], data: await b.toHost() } as TensorData;
    } else {
      // One argument list per partition: each holds its tile of every input.
      const lists = exe.devices.map((device, p) =>
        ins.map((t, i) => {
          const shard = tile(t, tilings!.args[i]!, p, `input.${i}`);
          const b = client.toDevice(shard.data, shard.shape, shard.dtype, device);
          buffers.push(b);
          return b;
        }),
      );
      let out;
      try {
        out = await exe.run(lists);
      } catch (e) {
        // E.g. an entry parameter without a sharding annotation that XLA chose to shard.
        if (e instanceof PjrtError) throw new FlipError(`${filename}: ${e.message}; flipc run splits inputs by @${main.name}'s sharding annotations`);
        throw e;
      }
      for (const l of out) buffers.push(...l);
      for (let i = 0; i < results.length; i++) {
        const shards = await Promise.all(out.map(async (l) => {
          const b = l[i];
          if (!b) throw new FlipError(`${filename}: the executable returned ${l.length} outputs, @${main.name} declares ${results.length}`);
          return { dtype: b.dtype, shape: [...b.shape], data: await b.toHost() } as TensorData;
        }));
        outputs[`output.${i}`] = untile(shards, tilings.results[i]!, results[i]!);
      }
    }
    const devices = exe.devices.length || 1;
    exe.dispose();
    const checks = checkOps.map((c, k) => evalCheck(c, outputs[`output.${declared + 2 * k}`]!, outputs[`output.${declared + 2 * k + 1}`]!));
    for (let i = declared; i < results.length; i++) delete outputs[`output.${i}`];
    return { inputs, outputs, notes, devices, checks };
  } finally {
    for (const b of buffers) b.dispose();
    if (!shared) client.dispose();
  }
}

/** Copies the block [start, start + size) of a row-major array into `dst` (or back, with `into`); complex elements as (real, imaginary) pairs. */
function copyBlock(src: TensorData['data'], shape: number[], begin: number[], extent: number[], dst: TensorData['data'], into: boolean, lanes: number): void {
  // A complex array is a real one with a last dimension of 2.
  const [srcShape, start, size] = lanes === 1 ? [shape, begin, extent] : [[...shape, lanes], [...begin, 0], [...extent, lanes]];
  const rank = srcShape.length;
  if (rank === 0) {
    if (into) (src as Float32Array).set(dst as Float32Array, 0);
    else (dst as Float32Array).set(src as Float32Array, 0);
    return;
  }
  const st = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) st[i] = st[i + 1]! * srcShape[i + 1]!;
  const rows = size.slice(0, -1).reduce((a, b) => a * b, 1);
  const run = size[rank - 1]!;
  for (let r = 0; r < rows; r++) {
    let off = start[rank - 1]!;
    let rem = r;
    for (let k = rank - 2; k >= 0; k--) {
      off += (start[k]! + (rem % size[k]!)) * st[k]!;
      rem = Math.floor(rem / size[k]!);
    }
    const a = src as Float32Array;
    const b = dst as Float32Array;
    if (into) a.set(b.subarray(r * run, r * run + run), off);
    else b.set(a.subarray(off, off + run), r * run);
  }
}

function blockOf(shape: number[], t: Tiling, p: number, what: string): { start: number[]; size: number[] } {
  const c = t.coords(p);
  const size = shape.map((n, k) => {
    if (n % t.tiles[k]! !== 0) throw new FlipError(`${what}: dimension ${k} (size ${n}) does not split evenly into ${t.tiles[k]} shards`);
    return n / t.tiles[k]!;
  });
  return { start: c.map((x, k) => x * size[k]!), size };
}

/** The shard of `t` that partition p holds. */
function tile(t: TensorData, tiling: Tiling, p: number, what: string): TensorData {
  const { start, size } = blockOf(t.shape, tiling, p, what);
  const data = newHostArray(t.dtype, size.reduce((a, b) => a * b, 1));
  copyBlock(t.data, t.shape, start, size, data, false, DTYPE_INFO[t.dtype].lanes);
  return { dtype: t.dtype, shape: size, data } as TensorData;
}

/** Reassembles a result from the shards every partition returned. */
function untile(shards: TensorData[], tiling: Tiling, spec: ArgSpec): TensorData {
  const data = newHostArray(spec.dtype, spec.shape.reduce((a, b) => a * b, 1));
  shards.forEach((s, p) => {
    const { start, size } = blockOf(spec.shape, tiling, p, `output shard ${p}`);
    if (s.shape.some((d, k) => d !== size[k])) throw new FlipError(`output shard ${p} is [${s.shape.join(', ')}], its tile [${size.join(', ')}]`);
    copyBlock(data, spec.shape, start, size, s.data, true, DTYPE_INFO[spec.dtype].lanes);
  });
  return { dtype: spec.dtype, shape: [...spec.shape], data } as TensorData;
}

// jit: trace a DSL function once per input signature, run the passes, lower to StableHLO, compile through PJRT,
// cache the executable, and run it on host or device arrays.
//
// It lives in programs/, above the runtime's face, not in dsl/, because it compiles and runs through PJRT, and
// DESIGN.md has the DSL never reach into PJRT. Lowering is compiler/lower's, compiling programs/compile.ts's.
import { FlipError, showType, type DType, type Func, type TensorType } from '../compiler/ir/index.ts';
import { lower as lowerFn, type Program } from '../compiler/lower/index.ts';
import { flatten, isTracing, showTreeDef, unflatten, type AxisSizes, type MapLeaves } from '../compiler/trace/index.ts';
import type { AnyTensor } from '../dsl/core.ts';
import { openClient, type Buffer, type Client, type Executable, type HostArrayOf, type Target } from '../runtime-native/index.ts';
import { compileProgram } from './compile.ts';

/** An array in host memory with its tensor type (dtype, sizes, axis names): what a jitted function takes. */
export class HostTensor<D extends DType = DType> {
  constructor(readonly type: TensorType, readonly data: HostArrayOf[D]) {
    const n = type.shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new FlipError(`HostTensor: ${data.length} elements for ${showType(type)} (${n} elements)`);
  }
}

/** `hostTensor('f32', {batch: 2, embed: 3}, new Float32Array(6))`: sizes by axis name, in axis order. */
export function hostTensor<D extends DType>(dtype: D, sizes: AxisSizes, data: HostArrayOf[D]): HostTensor<D> {
  const axes = Object.keys(sizes);
  return new HostTensor<D>({ dtype, shape: axes.map((a) => sizes[a]!), axes }, data);
}

/** An array on a device with its tensor type: what a jitted function returns, and may take back without a copy. */
export class DeviceTensor<D extends DType = DType> {
  constructor(readonly buffer: Buffer<D>, readonly type: TensorType) {}
  toHost(): Promise<HostArrayOf[D]> {
    return this.buffer.toHost();
  }
  dispose(): void {
    this.buffer.dispose();
  }
}

/** What a jitted function takes where the traced function takes a Tensor. */
export type TensorInput = HostTensor | DeviceTensor;

export interface JitOptions {
  /** The client to compile and run on; default: one shared client of `target`. */
  client?: Client | Promise<Client>;
  /** Default 'cpu'. */
  target?: Target;
  /** Name of the traced function and module (default: the function's name). */
  name?: string;
}

export interface JitStats {
  /** Times the function was traced: once per new input signature. */
  traces: number;
  /** Executables compiled: once per new input signature. */
  compiles: number;
  /** Calls made. */
  calls: number;
}

export interface Jitted<A extends readonly unknown[], R> {
  (...args: { [K in keyof A]: MapLeaves<A[K], AnyTensor, TensorInput> }): Promise<MapLeaves<R, AnyTensor, DeviceTensor>>;
  readonly stats: Readonly<JitStats>;
  /** The simplified IR and StableHLO text for these arguments' signature (traced and compiled if new). */
  lower(...args: { [K in keyof A]: MapLeaves<A[K], AnyTensor, TensorInput> }): Promise<{ func: Func; mlir: string; executable: Executable }>;
}

interface Compiled {
  program: Program;
  func: Func;
  mlir: string;
  executable: Executable;
}

const sharedClients = new Map<Target, Promise<Client>>();
function sharedClient(target: Target): Promise<Client> {
  let c = sharedClients.get(target);
  if (!c) {
    c = openClient({ target });
    sharedClients.set(target, c);
    c.catch(() => sharedClients.delete(target));
  }
  return c;
}

const isInput = (x: unknown): x is TensorInput => x instanceof HostTensor || x instanceof DeviceTensor;

/**
 * Compile `fn` (a function of Tensors, JS scalars and pytrees of them) for each distinct input signature: the pytree
 * structure, static JS scalars, and each tensor's dtype, sizes and axis names. Later calls with the same signature
 * reuse the executable. Results come back as DeviceTensors in the structure `fn` returned.
 */
export function jit<A extends readonly unknown[], R>(fn: (...args: A) => R, opts: JitOptions = {}): Jitted<A, R> {
  const stats: JitStats = { traces: 0, compiles: 0, calls: 0 };
  const cache = new Map<string, Promise<Compiled>>();
  const client = () => Promise.resolve(opts.client ?? sharedClient(opts.target ?? 'cpu'));
  const name = opts.name ?? (fn.name || 'main');

  const compiled = (args: readonly unknown[]): { leaves: TensorInput[]; entry: Promise<Compiled> } => {
    if (isTracing()) throw new FlipError(`jit(${name}) was called while tracing; inside traced code call the function itself`);
    const flat = flatten(args, { isLeaf: isInput });
    flat.leaves.forEach((l, i) => {
      if (!isInput(l)) throw new FlipError(`jit(${name}): argument leaf '${flat.paths[i]}' must be a HostTensor or DeviceTensor, got ${typeof l}`);
    });
    const leaves = flat.leaves as TensorInput[];
    const types = leaves.map((l) => l.type);
    const key = `${showTreeDef(flat.treedef)}|${types.map((t) => `${showType(t)}`).join(';')}`;
    let entry = cache.get(key);
    if (!entry) {
      // Trace now (synchronously, so concurrent calls cannot interleave traces); compile asynchronously.
      stats.traces++;
      const program = lowerFn(fn as (...a: never[]) => unknown, unflatten<unknown[]>(flat.treedef, types), { name });
      stats.compiles++;
      entry = client()
        .then((c) => compileProgram(c, program, { cache: false }))
        .then((executable) => ({ program, func: program.func, mlir: program.mlir, executable }));
      cache.set(key, entry);
      entry.catch(() => cache.delete(key));
    }
    return { leaves, entry };
  };

  // Not async itself: signature errors and tracing errors throw at the call, where a trace (if any) sees them.
  const call = (...args: readonly unknown[]) => {
    stats.calls++;
    const { leaves, entry } = compiled(args);
    return execute(leaves, entry);
  };
  const execute = async (leaves: readonly TensorInput[], entry: Promise<Compiled>) => {
    const { program, executable } = await entry;
    const c = await client();
    const uploaded: Buffer[] = [];
    const buffers = leaves.map((l) => {
      if (l instanceof DeviceTensor) {
        if (l.buffer.client !== c) throw new FlipError(`jit(${name}): a DeviceTensor ${showType(l.type)} lives on another client`);
        return l.buffer;
      }
      const b = c.toDevice(l.data as HostArrayOf[DType], l.type.shape, l.type.dtype);
      uploaded.push(b);
      return b;
    });
    try {
      const outs = await executable.run(buffers);
      return unflatten(program.outTree, outs.map((b, i) => new DeviceTensor(b, program.results[i]!.type)));
    } finally {
      for (const b of uploaded) b.dispose();
    }
  };

  const lower = async (...args: readonly unknown[]) => {
    const { func, mlir, executable } = await compiled(args).entry;
    return { func, mlir, executable };
  };
  return Object.assign(call, { stats, lower }) as unknown as Jitted<A, R>;
}

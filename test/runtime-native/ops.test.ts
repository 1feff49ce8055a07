// Hand-written StableHLO modules compile and run on the real CPU plugin and return the right numbers,
// for f32, bf16, i32 and i1; every dtype round-trips; executables describe themselves.
import { optimizedHlo } from '../../programs/inspect.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, openClient, type Buffer, type Client, type DType, type Target } from '../../runtime-native/index.ts';
import { dot, double, elementwise, elementwiseBool, reduce, twoOutputs } from './modules.ts';

// The CPU plugin by default; FLIP_TEST_TARGET=gpu (or tpu) runs the same modules on that plugin's
// devices (the assertions about the CPU plugin itself then do not apply).
const target = (process.env.FLIP_TEST_TARGET ?? 'cpu') as Target;
const onCpu = target === 'cpu';
let client: Client;
beforeAll(async () => {
  client = await openClient(onCpu ? { target, devices: 2 } : { target });
});
afterAll(() => client.dispose());

type Tested = 'f32' | 'bf16' | 'i32' | 'i1';
const TESTED: Tested[] = ['f32', 'bf16', 'i32', 'i1'];

// Inputs exactly representable in every tested dtype (bf16 keeps 8 significant bits), so the
// expected values are exact.
const INPUTS: Record<Tested, { a: number[]; b: number[]; p: number[]; q: number[] }> = {
  f32: { a: [1.5, -2, 3, 4, 5, -6], b: [6, 5, -4, 3, 2, 0.5], p: [1, -2, 3, 0.5, 2, -1, 4, 1, -3, 2, 0, 1], q: [2, 1, -1, 3, 0.5, 2, 1, -2, 3, 1, 2, -1] },
  bf16: { a: [1.5, -2, 3, 4, 5, -6], b: [6, 5, -4, 3, 2, 0.5], p: [1, -2, 3, 0.5, 2, -1, 4, 1, -3, 2, 0, 1], q: [2, 1, -1, 3, 0.5, 2, 1, -2, 3, 1, 2, -1] },
  i32: { a: [1, -2, 3, 4, 5, -6], b: [6, 5, -4, 3, 2, 1], p: [1, -2, 3, 7, 2, -1, 4, 1, -3, 2, 0, 1], q: [2, 1, -1, 3, 5, 2, 1, -2, 3, 1, 2, -1] },
  i1: { a: [1, 0, 1, 1, 1, 0], b: [1, 1, 0, 0, 1, 0], p: [1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1], q: [1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0] },
};

const up = (d: Tested, values: number[], shape: number[]): Buffer => client.toDevice(values, shape, d);

async function down(b: Buffer): Promise<number[]> {
  const h = await b.toHost();
  if (b.dtype === 'bf16') return Array.from(h as Uint16Array, bf16ToF32);
  return Array.from(h as ArrayLike<number>, Number);
}

// Reference semantics, rounded to the dtype as the device stores it.
const round = (d: Tested, x: number): number => (d === 'bf16' ? bf16ToF32(f32ToBf16(x)) : d === 'i32' ? x | 0 : d === 'i1' ? (x ? 1 : 0) : Math.fround(x));
const zip = (a: number[], b: number[], f: (x: number, y: number) => number): number[] => a.map((x, i) => f(x, b[i]!));

function matmul(d: Tested, a: number[], b: number[], m: number, k: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += d === 'i1' ? a[i * k + t]! & b[t * n + j]! : a[i * k + t]! * b[t * n + j]!;
      out.push(round(d, s));
    }
  return out;
}

describe.each(TESTED)('%s', (d) => {
  const { a, b, p, q } = INPUTS[d];

  it('elementwise ops', async () => {
    const exe = await client.compile(d === 'i1' ? elementwiseBool() : elementwise(d));
    expect(exe.numOutputs).toBe(4);
    const outs = await exe.run([up(d, a, [2, 3]), up(d, b, [2, 3])]);
    expect(outs.map((o) => [o.dtype, o.shape])).toEqual(Array(4).fill([d, [2, 3]]));
    const want =
      d === 'i1'
        ? [zip(a, b, (x, y) => x & y), zip(a, b, (x, y) => x | y), zip(a, b, (x, y) => x ^ y), a.map((x) => 1 - x)]
        : [zip(a, b, (x, y) => x + y), zip(a, b, (x, y) => x - y), zip(a, b, (x, y) => x * y), zip(a, b, Math.max)].map((v) => v.map((x) => round(d, x)));
    expect(await Promise.all(outs.map(down))).toEqual(want);
  });

  it('dot_general, plain and batched', async () => {
    const exe = await client.compile(dot(d));
    const [mm, bmm] = await exe.run([up(d, a, [2, 3]), up(d, b, [3, 2]), up(d, p, [2, 2, 3]), up(d, q, [2, 3, 2])]);
    expect(mm!.shape).toEqual([2, 2]);
    expect(bmm!.shape).toEqual([2, 2, 2]);
    expect(await down(mm!)).toEqual(matmul(d, a, b, 2, 3, 2));
    expect(await down(bmm!)).toEqual([...matmul(d, p.slice(0, 6), q.slice(0, 6), 2, 3, 2), ...matmul(d, p.slice(6), q.slice(6), 2, 3, 2)]);
  });

  it('reduce over each dimension', async () => {
    const exe = await client.compile(reduce(d));
    const [rows, cols] = await exe.run([up(d, a, [2, 3])]);
    const row = (i: number): number[] => a.slice(i * 3, i * 3 + 3);
    const col = (j: number): number[] => [a[j]!, a[3 + j]!];
    if (d === 'i1') {
      expect(await down(rows!)).toEqual([0, 1].map((i) => (row(i).some(Boolean) ? 1 : 0)));
      expect(await down(cols!)).toEqual([0, 1, 2].map((j) => (col(j).every(Boolean) ? 1 : 0)));
    } else {
      expect(await down(rows!)).toEqual([0, 1].map((i) => round(d, row(i).reduce((s, x) => s + x, 0))));
      expect(await down(cols!)).toEqual([0, 1, 2].map((j) => Math.max(...col(j))));
    }
  });

  it('a function with two outputs of different shapes', async () => {
    const exe = await client.compile(twoOutputs(d));
    expect(exe.numOutputs).toBe(2);
    expect(exe.outputs).toEqual([{ dtype: d, shape: [4] }, { dtype: d, shape: [] }]);
    const [x, y] = [a.slice(0, 4), b.slice(0, 4)];
    const [first, second] = await exe.run([up(d, x, [4]), up(d, y, [4])]);
    expect(second!.shape).toEqual([]);
    if (d === 'i1') {
      expect(await down(first!)).toEqual(zip(x, y, (u, v) => u & v));
      expect(await down(second!)).toEqual([zip(x, y, (u, v) => u ^ v).some(Boolean) ? 1 : 0]);
    } else {
      expect(await down(first!)).toEqual(zip(x, y, (u, v) => round(d, u + v)));
      expect(await down(second!)).toEqual([round(d, zip(x, y, (u, v) => u * v).reduce((s, v) => s + v, 0))]);
    }
  });
});

describe('every dtype moves to the device and back', () => {
  const cases: { d: DType; input: ArrayLike<number | bigint> & Iterable<number | bigint>; want: (number | bigint)[] }[] = [
    { d: 'f32', input: new Float32Array([0.1, -2.5, 3e30]), want: [Math.fround(0.2), -5, Math.fround(6e30)] },
    { d: 'f64', input: new Float64Array([1 / 3, -1e300, 2 ** -1000]), want: [2 / 3, -2e300, 2 ** -999] },
    { d: 'bf16', input: Uint16Array.from([1.5, -3, 100], f32ToBf16), want: [3, -6, 200].map(f32ToBf16) },
    { d: 'f16', input: Uint16Array.from([0.5, -1.25, 1000], f32ToF16), want: [1, -2.5, 2000].map(f32ToF16) },
    { d: 'i32', input: new Int32Array([7, -2_000_000_000, 123]), want: [14, 294_967_296, 246] },
    { d: 'i64', input: new BigInt64Array([2n ** 40n + 3n, -5n, 2n ** 62n]), want: [2n ** 41n + 6n, -10n, -(2n ** 63n)] },
    { d: 'u32', input: new Uint32Array([1, 2 ** 31 + 1, 4_000_000_000]), want: [2, 2, 3_705_032_704] },
    { d: 'u8', input: new Uint8Array([1, 100, 200]), want: [2, 200, 144] },
    { d: 'i1', input: new Uint8Array([1, 0, 1]), want: [0, 1, 0] },
  ];
  it.each(cases)('$d', async ({ d, input, want }) => {
    const exe = await client.compile(double(d));
    const buf = client.toDevice(input as never, [3], d);
    expect([buf.dtype, buf.shape, buf.device]).toEqual([d, [3], 0]);
    // the upload is a copy: changing the host array afterwards changes nothing on the device
    (input as unknown as (number | bigint)[])[0] = typeof input[0] === 'bigint' ? 0n : 0;
    const [out] = await exe.run([buf]);
    const host = await out!.toHost();
    expect(host.constructor).toBe(input.constructor);
    expect(Array.from(host as Iterable<number | bigint>)).toEqual(want);
    if (d === 'f16') expect(Array.from(host as Uint16Array, f16ToF32)).toEqual([1, -2.5, 2000]);
  });
});

describe('introspection', () => {
  it('reports outputs, optimized HLO, costs and memory', async () => {
    const exe = await client.compile(dot('f32'));
    expect(exe.name()).toBe('dot_f32');
    expect(exe.numOutputs).toBe(2);
    expect(exe.outputs).toEqual([{ dtype: 'f32', shape: [2, 2] }, { dtype: 'f32', shape: [2, 2, 2] }]);
    expect([exe.numReplicas, exe.numPartitions]).toEqual([1, 1]);
    const hlo = optimizedHlo(exe);
    expect(hlo).toMatch(/^HloModule dot_f32, entry_computation_layout=/);
    if (!onCpu) return; // what follows is the CPU compiler's program and cost model
    expect(hlo).toMatch(/^HloModule dot_f32, entry_computation_layout=\{\(f32\[2,3\]\{1,0\}, f32\[3,2\]\{1,0\}, f32\[2,2,3\]\{2,1,0\}, f32\[2,3,2\]\{2,1,0\}\)->/);
    expect(hlo).toMatch(/ENTRY %\S+ \(/);
    expect(hlo).toMatch(/dot\(f32\[2,3\]\{1,0\} %\S+, f32\[3,2\]\{1,0\} %\S+\), lhs_contracting_dims=\{1\}, rhs_contracting_dims=\{0\}/);
    expect(hlo).toMatch(/lhs_batch_dims=\{0\}, lhs_contracting_dims=\{2\}, rhs_batch_dims=\{0\}, rhs_contracting_dims=\{1\}/);
    const program = exe.optimizedProgram();
    expect(['hlo', 'hlo_with_config']).toContain(program.format);
    expect(program.code.length).toBeGreaterThan(100);
    const cost = exe.costAnalysis()!;
    // 2*2*2*3 multiply-adds for the plain product, twice that for the batched one
    expect(cost.flops).toBe(2 * (2 * 2 * 3) + 2 * (2 * 2 * 2 * 3));
    const mem = exe.memoryStats()!;
    expect(mem.argumentSizeInBytes).toBe(4 * (6 + 6 + 12 + 12));
    expect(mem.outputSizeInBytes).toBeGreaterThanOrEqual(4 * (4 + 8));
    expect(typeof exe.fingerprint()).toBe('string');
  });

  it('lists devices; CPU has no allocator stats', () => {
    if (!onCpu) {
      expect(client.devices.length).toBeGreaterThan(0);
      expect(client.memoryStats(0)?.bytesInUse).toBeGreaterThanOrEqual(0);
      return;
    }
    expect(client.devices.map((d) => [d.index, d.id, d.kind])).toEqual([[0, 0, 'cpu'], [1, 1, 'cpu']]);
    expect(client.platform.name).toBe('cpu');
    expect(client.plugin.apiVersion).toBe('0.81');
    expect(client.plugin.attributes.stablehlo_current_version).toEqual([1, 13, 3]);
    expect(client.memoryStats(0)).toBeNull();
    expect(client.defaultDeviceAssignment(1, 2)).toEqual([0, 1]);
  });

  it('runs on the device it is asked to', async () => {
    const exe = await client.compile(double('f32'));
    const last = client.devices.length - 1;
    const onLast = client.toDevice([1, 2, 3], [3], 'f32', last);
    const [out] = await exe.run([onLast]);
    expect(out!.device).toBe(last);
    expect(Array.from(await out!.as('f32').toHost())).toEqual([2, 4, 6]);
  });

  it('caches executables by module text and options', async () => {
    const text = double('i32');
    const first = await client.compile(text);
    expect(await client.compile(text)).toBe(first);
    expect(await client.compile(text, { envOverrides: { xla_cpu_enable_fast_math: false } })).not.toBe(first);
    expect(await client.compile(text, { cache: false })).not.toBe(first);
    first.dispose();
    const again = await client.compile(text);
    expect(again).not.toBe(first);
    expect(again.disposed).toBe(false);
  });

  it('passes named client options through to the plugin', async () => {
    if (!onCpu) return;
    const c = await openClient({ target: 'cpu', options: { cpu_device_count: 3 } });
    expect(c.devices).toHaveLength(3);
    c.dispose();
  });

  it('buffers say when their value is ready', async () => {
    const exe = await client.compile(double('f32'));
    const input = client.toDevice([1, 2, 3], [3], 'f32');
    await expect(input.ready()).resolves.toBeUndefined();
    const [out] = await exe.run([input]);
    await expect(out!.ready()).resolves.toBeUndefined();
    expect(out!.onDeviceSizeInBytes()).toBe(12);
  });

  it('compiles MLIR given as bytes', async () => {
    const exe = await client.compile(new TextEncoder().encode(double('f32')));
    const [out] = await exe.run([client.toDevice([1, 2, 3], [3], 'f32')]);
    expect(Array.from(await out!.as('f32').toHost())).toEqual([2, 4, 6]);
  });
});

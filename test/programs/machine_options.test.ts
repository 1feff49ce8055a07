// Compile options that a program's data and the machine call for (programs/compile.ts machineEnvOverrides): a bf16
// program on a CPU without bf16 arithmetic compiles without YNNPACK fusions; an f32 program, or any GPU/TPU program,
// keeps XLA's defaults. On the real CPU plugin, both programs compile and give the same values with the option.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lower } from '../../compiler/lower/index.ts';
import { spec } from '../../compiler/trace/index.ts';
import { astype, type Tensor } from '../../dsl/index.ts';
import { scan } from '../../dsl/transforms.ts';
import { compileProgram, computesInBf16, cpuHasBf16, machineEnvOverrides, programCompileOptions } from '../../programs/compile.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';

type M = Tensor<'f32', readonly ['n', 'k']>;
const m = spec('f32', { n: 8, k: 8 });
const f32Program = lower((x: M) => x.mul(x).sum(), [m], { name: 'f32_sum' });
// A model with dtype bfloat16 in miniature: f32 in, bf16 arithmetic, f32 out.
const bf16Program = lower((x: M) => astype(astype(x, 'bf16').mul(astype(x, 'bf16')), 'f32').sum(), [m], { name: 'bf16_sum' });

let client: Client;
beforeAll(async () => {
  client = await openClient({ target: 'cpu', devices: 1 });
});
afterAll(() => client.dispose());

describe('machine compile options', () => {
  it('tells a bf16 program from an f32 one by its ops, inside a scanned body too', () => {
    expect(computesInBf16(bf16Program)).toBe(true);
    expect(computesInBf16(f32Program)).toBe(false);
    type R = Tensor<'f32', readonly ['k']>;
    const looped = (bf16: boolean) => lower((x: M) => {
      const [last] = scan((c: R, row: R) => [bf16 ? astype(astype(c, 'bf16').mul(astype(row, 'bf16')), 'f32') : c.mul(row), c] as const, x.sum('n'), x, { axis: 'n' });
      return last.sum();
    }, [m], { name: 'scanned' });
    expect(computesInBf16(looped(true))).toBe(true);
    expect(computesInBf16(looped(false))).toBe(false);
  });

  it('turns YNNPACK fusions off for a bf16 program on a CPU without bf16 arithmetic, and only then', () => {
    const off = { xla_cpu_experimental_ynn_fusion_type: '' };
    expect(machineEnvOverrides(client, bf16Program)).toEqual(cpuHasBf16() ? {} : off);
    expect(machineEnvOverrides(client, f32Program)).toEqual({});
    // The caller's own XLA options win over the machine's.
    const own = programCompileOptions(client, bf16Program, { envOverrides: { xla_cpu_experimental_ynn_fusion_type: 'dot' } });
    expect(own.envOverrides).toMatchObject({ xla_cpu_experimental_ynn_fusion_type: 'dot' });
  });

  it('compiles and runs the bf16 program with it', async () => {
    const exe = await compileProgram(client, bf16Program, { compileCache: false });
    const x = new Float32Array(64).map((_, i) => (i % 7) * 0.25);
    const [out] = await exe.run([client.toDevice(x, [8, 8], 'f32')]);
    const want = x.reduce((a, v) => a + v * v, 0); // squares of multiples of 0.25 below 2 are exact in bf16
    expect((await out!.toHost())[0]).toBeCloseTo(want, 4);
    exe.dispose();
  });
});

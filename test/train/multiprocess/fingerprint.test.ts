// The check that every process compiled the same program (train/multiprocess/fingerprint.ts): fingerprints of real
// lowered programs with the compile options a real CPU client gives them, the comparison of N processes'
// fingerprints, and the put/get flow through the one-process group. The flow through the real coordination store
// with several processes is tested in test/distributed/trainer_share.test.ts (3 real processes, the real store).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lower } from '../../../compiler/lower/index.ts';
import { mesh } from '../../../compiler/passes/index.ts';
import { spec } from '../../../compiler/trace/index.ts';
import { type Tensor } from '../../../dsl/index.ts';
import '../../../dsl/index.ts';
import { programCompileOptions } from '../../../programs/compile.ts';
import { openClient, type Client } from '../../../runtime-native/index.ts';
import {
  checkSameProgram, fingerprintKey, fingerprintMismatch, programFingerprint, shortHash, singleProcess,
} from '../../../train/multiprocess/index.ts';

let client: Client;
beforeAll(async () => {
  client = await openClient({ target: 'cpu', devices: 2 });
});
afterAll(() => client?.dispose());

type V = Tensor<'f32', readonly ['batch']>;
const step = (w: V, x: V, scale: number) => w.mul(x).mul(scale).sum();

describe('programFingerprint', () => {
  it('is the same for the same module and options, and differs when either does', () => {
    const v = spec('f32', { batch: 8 });
    // Locations are part of the module text: the same call site lowers the same module.
    const [a, b] = [0, 1].map(() => lower(step, [v, v, 2]));
    const fp = (p: typeof a & {}, o = {}) => programFingerprint(p.mlir, programCompileOptions(client, p, o));
    expect(a!.mlir).toBe(b!.mlir);
    expect(fp(a!)).toBe(fp(b!));
    expect(fp(a!)).toMatch(/^[0-9a-f]{64}$/);
    // Another constant, another shape, another mesh, another XLA option: another fingerprint.
    const others = [lower(step, [v, v, 3]), lower(step, [spec('f32', { batch: 4 }), spec('f32', { batch: 4 }), 2]), lower(step, [v, v, 2], { mesh: mesh({ data: 2 }) })];
    const all = new Set([fp(a!), ...others.map((p) => fp(p)), fp(a!, { optLevel: 0 })]);
    expect(all.size).toBe(5);
    // The same mesh program on another device order is another program.
    const m2 = lower(step, [v, v, 2], { mesh: mesh({ data: 2 }, { devices: [1, 0] }) });
    expect(fp(m2)).not.toBe(fp(others[2]!));
    // Key order and the executable-reuse flag do not count.
    expect(programFingerprint('m', { numPartitions: 1, numReplicas: 1, cache: true })).toBe(programFingerprint('m', { numReplicas: 1, numPartitions: 1 }));
  });
});

describe('fingerprintMismatch', () => {
  const A = 'a'.repeat(64);
  const B = 'b'.repeat(64);
  it('is null when every process has the same fingerprint (1 to 8 processes)', () => {
    for (let n = 1; n <= 8; n++) expect(fingerprintMismatch(Array(n).fill(A))).toBeNull();
  });
  it('names the first process that differs from process 0 and both short hashes, in one line', () => {
    for (let n = 2; n <= 8; n++) {
      for (let bad = 1; bad < n; bad++) {
        const fps = Array(n).fill(A);
        fps[bad] = B;
        if (bad + 1 < n) fps[n - 1] = 'c'.repeat(64); // a later one differing too: the first is named
        const line = fingerprintMismatch(fps)!;
        expect(line).toBe(`process ${bad} compiled another train step than process 0 (program ${shortHash(B)} vs ${shortHash(A)}): every process must run the same flip version with the same config, overrides and mesh`);
        expect(line).not.toContain('\n');
      }
    }
    // Process 0 the odd one out: every other differs from it, process 1 is named.
    expect(fingerprintMismatch([B, A, A, A])).toMatch(/^process 1 compiled another train step than process 0 \(program aaaaaaaaaaaa vs bbbbbbbbbbbb\)/);
  });
});

describe('checkSameProgram', () => {
  it('passes on the one-process group and leaves its fingerprint under its key', async () => {
    const g = singleProcess();
    await checkSameProgram(g, 'train_step', 'f'.repeat(64), 1000);
    expect(await g.get(fingerprintKey('train_step', 0), 10)).toBe('f'.repeat(64));
  });
});

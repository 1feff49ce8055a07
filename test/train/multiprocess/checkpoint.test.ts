// Checkpoints written per process with one index (train/multiprocess/checkpoint.ts): the writer is called once per
// process index here (what N processes do, each for itself), on a shared folder; restores with other process counts
// and meshes are compared bit for bit with the full arrays. Crash safety (no index = not a checkpoint), damaged
// folders (a missing piece file, an index naming what is not there) as one-line errors.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DTYPE_INFO, newHostArray, type DType } from '../../../compiler/ir/dtype.ts';
import { mesh, type Mesh } from '../../../compiler/passes/index.ts';
import { readSafetensors, type TensorData } from '../../../io/safetensors.ts';
import { findCheckpoint, loadCheckpoint, perProcessCheckpointAt, readCheckpointMeta } from '../../../train/checkpoint.ts';
import {
  checkpointFolder, latestProcessCheckpoint, listProcessCheckpoints, pieceFile, processHolding, pruneProcessCheckpoints, readBlock,
  readCheckpointIndex, restoreProcessBlocks, saveProcessCheckpoint, singleProcess, writeCheckpointIndex, writeProcessPieces,
  type ArrayLayout, type Box, type Piece,
} from '../../../train/multiprocess/index.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-mp-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ARRAYS: ArrayLayout[] = [
  { name: 'params.w', dtype: 'f32', shape: [12, 6], spec: [[], ['model']] }, // replicated over data
  { name: 'params.b', dtype: 'bf16', shape: [6], spec: [['model']] },
  { name: 'opt.mu.w', dtype: 'f32', shape: [12, 6], spec: [['data'], ['model']] },
  { name: 'stats', dtype: 'i32', shape: [12, 2, 3], spec: [['data'], [], []] },
  { name: 'mask', dtype: 'i1', shape: [12], spec: [['data']] },
  { name: 'step', dtype: 'i32', shape: [], spec: [] }, // replicated scalar
];

// Full arrays with arbitrary bits (NaN payloads, negative zeros, denormals included for the floats).
let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed);
const FULL: Record<string, TensorData> = Object.fromEntries(ARRAYS.map((a) => {
  const n = a.shape.reduce((x, y) => x * y, 1);
  const data = newHostArray(a.dtype, n);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < bytes.length; i++) bytes[i] = a.dtype === 'i1' ? rnd() & 1 : rnd() >>> 24;
  return [a.name, { dtype: a.dtype, shape: [...a.shape], data } as TensorData];
}));

/** The block `box` of a full array (reference slicing, element by element). */
function slice(t: TensorData, box: Box): Uint8Array {
  const bytes = DTYPE_INFO[t.dtype as DType].bytes;
  const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const n = box.shape.reduce((x, y) => x * y, 1);
  const out = new Uint8Array(n * bytes);
  for (let k = 0; k < n; k++) {
    let rest = k;
    let flat = 0;
    const idx = new Array<number>(box.shape.length);
    for (let d = box.shape.length - 1; d >= 0; d--) {
      idx[d] = rest % box.shape[d]!;
      rest = Math.floor(rest / box.shape[d]!);
    }
    for (let d = 0; d < box.shape.length; d++) flat = flat * t.shape[d]! + box.start[d]! + idx[d]!;
    out.set(src.subarray(flat * bytes, (flat + 1) * bytes), k * bytes);
  }
  return out;
}
const bytesOf = (t: TensorData) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** What process pi writes: its blocks marked `writes`, cut from the full arrays. */
function piecesOf(m: Mesh, pc: number, pi: number): Piece[] {
  const held = processHolding(m, pc, pi, ARRAYS);
  return ARRAYS.flatMap((a) => held[a.name]!.filter((b) => b.writes).map((b) => {
    const raw = slice(FULL[a.name]!, b);
    const data = newHostArray(a.dtype, raw.length / DTYPE_INFO[a.dtype].bytes);
    new Uint8Array(data.buffer).set(raw);
    return { name: a.name, start: b.start, data: { dtype: a.dtype, shape: b.shape, data } as TensorData };
  }));
}

/** N processes saving `step` into `dir`, one call per process index, then process 0's index. */
function saveAsProcesses(dir: string, step: number, m: Mesh, pc: number): string {
  for (let pi = 0; pi < pc; pi++) writeProcessPieces(dir, step, pi, pc, piecesOf(m, pc, pi), JSON.stringify({ position: { epoch: 0, shardIndex: pi } }));
  return writeCheckpointIndex(dir, step, pc, m, ARRAYS, { step, samples: step * 8 });
}

function expectRestores(folder: string, m: Mesh, pc: number): void {
  for (let pi = 0; pi < pc; pi++) {
    const got = restoreProcessBlocks(folder, m, pc, pi, ARRAYS);
    for (const a of ARRAYS) {
      const blocks = got[a.name]!;
      expect(blocks.length).toBeGreaterThan(0);
      for (const b of blocks) {
        expect(b.data.shape).toEqual(b.shape);
        expect(Buffer.from(bytesOf(b.data)).equals(Buffer.from(slice(FULL[a.name]!, b)))).toBe(true);
      }
    }
  }
}

describe('which process holds and writes which block', () => {
  it('each block of every array is written by exactly one process: the holder of its first replica', () => {
    for (const [m, pc] of [[mesh({ data: 2, model: 2 }), 2], [mesh({ data: 4, model: 2 }), 4], [mesh({ data: 2, model: 2 }), 4], [mesh({ data: 3, model: 2 }), 3]] as const) {
      const writers = new Map<string, number[]>();
      for (let pi = 0; pi < pc; pi++) {
        const held = processHolding(m, pc, pi, ARRAYS);
        for (const a of ARRAYS) for (const b of held[a.name]!) if (b.writes) writers.set(`${a.name}@${b.start}`, [...(writers.get(`${a.name}@${b.start}`) ?? []), pi]);
      }
      for (const [k, who] of writers) expect(who, k).toHaveLength(1);
      // The position to download is the block's first replica: the lowest mesh position holding it.
      for (let pi = 0; pi < pc; pi++) {
        for (const boxes of Object.values(processHolding(m, pc, pi, ARRAYS))) for (const b of boxes) expect(b.replica0).toBe(b.writes ? b.positions[0] : undefined);
      }
      // params.w is split over model only: data=2,model=2 on 2 processes → process 0 holds both halves and writes them.
      if (pc === 2) expect(processHolding(m, 2, 1, ARRAYS)['params.w']!.every((b) => !b.writes)).toBe(true);
      expect(writers.get('step@')).toEqual([0]);
    }
  });

  it('refuses a mesh that does not split evenly across the processes', () => {
    expect(() => processHolding(mesh({ data: 3 }), 2, 0, ARRAYS)).toThrow(/^mesh data=3 \(3 devices\) does not split evenly across 2 processes$/);
    expect(() => processHolding(mesh({ data: 5 }), 5, 0, ARRAYS)).toThrow(/^opt\.mu\.w \[12, 6\] on mesh data=5: dimension 0 \(size 12\) does not split evenly 5 ways by \[data, -\]$/);
  });
});

describe('write with 2 and 4 processes, restore with 1 and 3', () => {
  for (const [label, m, pc] of [['2 processes, data=2,model=2', mesh({ data: 2, model: 2 }), 2], ['4 processes, data=4,model=2', mesh({ data: 4, model: 2 }), 4], ['4 processes, data=2,model=2 (model split across processes)', mesh({ data: 2, model: 2 }), 4]] as const) {
    it(`${label}: bit-exact on 1 process, on 3 (data=3,model=2 and data=3), and on the writing layout`, () => {
      const dir = path.join(tmp, `w${pc}-${m.shape.join('x')}`);
      const index = saveAsProcesses(dir, 16, m, pc);
      const { folder, index: j } = readCheckpointIndex(index);
      expect(folder).toBe(checkpointFolder(dir, 16));
      expect(j.processCount).toBe(pc);
      expect(j.processes.map((p) => JSON.parse(p.meta).position.shardIndex)).toEqual([...Array(pc).keys()]);
      expect(j.run).toEqual({ step: 16, samples: 128 });
      // Every piece file is a plain safetensors file that the generic reader reads.
      for (let pi = 0; pi < pc; pi++) expect(readSafetensors(path.join(folder, pieceFile(pi, pc))).metadata.process).toBe(String(pi));
      // One process: the whole arrays, bit for bit.
      const one = restoreProcessBlocks(folder, mesh({ data: 1 }), 1, 0, ARRAYS);
      for (const a of ARRAYS) {
        expect(one[a.name]).toHaveLength(1);
        expect(Buffer.from(bytesOf(one[a.name]![0]!.data)).equals(Buffer.from(bytesOf(FULL[a.name]!)))).toBe(true);
      }
      expectRestores(folder, mesh({ data: 3, model: 2 }), 3);
      expectRestores(folder, mesh({ data: 3 }), 3);
      expectRestores(folder, m, pc);
    });
  }

  it('reads any block across piece boundaries', () => {
    const dir = path.join(tmp, 'boxes');
    saveAsProcesses(dir, 1, mesh({ data: 4, model: 2 }), 4);
    const { folder, index } = readCheckpointIndex(checkpointFolder(dir, 1));
    for (const box of [{ start: [1, 1], shape: [10, 4] }, { start: [5, 0], shape: [1, 6] }, { start: [0, 5], shape: [12, 1] }]) {
      expect(Buffer.from(bytesOf(readBlock(folder, index, 'opt.mu.w', box))).equals(Buffer.from(slice(FULL['opt.mu.w']!, box)))).toBe(true);
    }
    expect(() => readBlock(folder, index, 'opt.mu.w', { start: [10, 0], shape: [3, 6] })).toThrow(/^opt\.mu\.w: block at \[10, 0\] of shape \[3, 6\] is outside its shape \[12, 6\]$/);
  });
});

describe('crash safety and damaged checkpoints', () => {
  it('a checkpoint folder without its index (killed while saving) is never the latest', () => {
    const dir = path.join(tmp, 'partial');
    saveAsProcesses(dir, 10, mesh({ data: 2, model: 2 }), 2);
    // Step 20: both processes wrote their pieces, process 0 died before the index.
    for (let pi = 0; pi < 2; pi++) writeProcessPieces(dir, 20, pi, 2, piecesOf(mesh({ data: 2, model: 2 }), 2, pi));
    // Step 30: only process 1 got as far as its pieces.
    writeProcessPieces(dir, 30, 1, 2, piecesOf(mesh({ data: 2, model: 2 }), 2, 1));
    expect(listProcessCheckpoints(dir).map((c) => c.step)).toEqual([10]);
    expect(latestProcessCheckpoint(dir)).toEqual({ step: 10, folder: checkpointFolder(dir, 10) });
    expect(() => readCheckpointIndex(checkpointFolder(dir, 20))).toThrow(/index\.json: missing \(the checkpoint in .*checkpoint_00000020 is incomplete: a run stopped while saving it\)$/);
    // An index cut short (not valid JSON) does not count either.
    writeFileSync(path.join(checkpointFolder(dir, 20), 'index.json'), '{"format": "flip-pro');
    expect(latestProcessCheckpoint(dir)?.step).toBe(10);
  });

  it('the one checkpoint readers take a per-process one where no one-process checkpoint is: meta, data position, names', () => {
    const dir = path.join(tmp, 'single');
    const folder = checkpointFolder(path.join(dir, 'checkpoints'), 12);
    saveAsProcesses(path.join(dir, 'checkpoints'), 12, mesh({ data: 2, model: 2 }), 2);
    expect(perProcessCheckpointAt(dir)).toBe(folder);
    expect(perProcessCheckpointAt(folder)).toBe(folder);
    // One process reading a checkpoint of two: no data position of its own; process 1 of 2 gets its own.
    expect(readCheckpointMeta(dir)).toMatchObject({ file: folder, meta: { step: 12, samples: 96, position: null } });
    expect(readCheckpointMeta(dir, { processIndex: 1, processCount: 2 }).meta.position).toEqual({ epoch: 0, shardIndex: 1 });
    // Arrays that are not a train state's (this fixture's 'mask', 'stats', 'step') are one line naming the first.
    expect(() => loadCheckpoint(dir)).toThrow(new RegExp(`^${folder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: array '\\w+' is not a params\\.\\*, opt\\.mu\\.\\* or opt\\.nu\\.\\* array of a train state$`));
    // A one-process checkpoint in the same folder comes first.
    const both = path.join(tmp, 'both');
    saveAsProcesses(path.join(both, 'checkpoints'), 12, mesh({ data: 2, model: 2 }), 2);
    writeFileSync(path.join(both, 'checkpoints', 'checkpoint_00000003.json'), '{}');
    expect(perProcessCheckpointAt(both)).toBeNull();
    expect(() => findCheckpoint(path.join(tmp, 'nothing-here-' + Date.now()))).toThrow(/the path does not exist/);
  });

  it('a missing piece file: one line naming it, when writing the index and when restoring', () => {
    const dir = path.join(tmp, 'missing');
    const m = mesh({ data: 2, model: 2 });
    writeProcessPieces(dir, 5, 0, 2, piecesOf(m, 2, 0));
    expect(() => writeCheckpointIndex(dir, 5, 2, m, ARRAYS)).toThrow(/^\S*checkpoint_00000005\/process_1-of-2\.safetensors: missing \(process 1 of 2 wrote no pieces there; a multi-process checkpoint needs a folder all processes share\)$/);
    expect(listProcessCheckpoints(dir)).toEqual([]);
    saveAsProcesses(dir, 6, m, 2);
    rmSync(path.join(checkpointFolder(dir, 6), pieceFile(1, 2)));
    expect(() => restoreProcessBlocks(checkpointFolder(dir, 6), mesh({ data: 1 }), 1, 0, ARRAYS)).toThrow(/^\S*checkpoint_00000006\/process_1-of-2\.safetensors: missing \(the index names it for opt\.mu\.w; the checkpoint is damaged\)$/);
  });

  it('an index naming an array or a block that is not there: one line naming the file', () => {
    const dir = path.join(tmp, 'names');
    const m = mesh({ data: 2, model: 2 });
    const idx = saveAsProcesses(dir, 7, m, 2);
    const folder = checkpointFolder(dir, 7);
    expect(() => restoreProcessBlocks(folder, m, 2, 0, [...ARRAYS, { name: 'params.extra', dtype: 'f32', shape: [2], spec: [[]] }]))
      .toThrow(/^\S*checkpoint_00000007\/index\.json: no array 'params\.extra' \(it has 6: params\.w, params\.b, opt\.mu\.w, stats, mask, \.\.\.\)$/);
    // The index names a block that process 1's file does not have (another save's file put there).
    const j = JSON.parse(readFileSync(idx, 'utf8'));
    const p = j.arrays['stats'].pieces.find((x: { file: string }) => x.file === pieceFile(1, 2));
    p.tensor = 'stats@99,0,0';
    writeFileSync(idx, JSON.stringify(j));
    expect(() => restoreProcessBlocks(folder, m, 2, 1, ARRAYS)).toThrow(/^\S*process_1-of-2\.safetensors: no block 'stats@99,0,0', which index\.json names for stats \(the file is not the one the index was written with\)$/);
    // A piece file with a block of an array the state does not have: refused when indexing.
    writeProcessPieces(dir, 8, 0, 1, [...piecesOf(mesh({ data: 1 }), 1, 0), { name: 'ghost', start: [0], data: { dtype: 'f32', shape: [1], data: new Float32Array(1) } }]);
    expect(() => writeCheckpointIndex(dir, 8, 1, mesh({ data: 1 }), ARRAYS)).toThrow(/process_0-of-1\.safetensors: tensor 'ghost@0' is no block of an array of this state$/);
    // Pieces that leave part of an array unwritten: refused when indexing.
    writeProcessPieces(dir, 9, 0, 1, piecesOf(mesh({ data: 1 }), 1, 0).filter((x) => x.name !== 'step'));
    expect(() => writeCheckpointIndex(dir, 9, 1, mesh({ data: 1 }), ARRAYS)).toThrow(/checkpoint_00000009: the pieces of step cover 0 of its 1 elements \(no process wrote the rest\)$/);
  });
});

describe('saveProcessCheckpoint with the one-process group', () => {
  it('writes pieces, then the index; a step already complete is left as it is; pruning keeps the newest', async () => {
    const dir = path.join(tmp, 'single');
    const m = mesh({ data: 2, model: 2 });
    const g = singleProcess();
    const o = (step: number) => ({ dir, step, mesh: m, arrays: ARRAYS, pieces: piecesOf(m, 1, 0), processMeta: 'p0', run: { step } });
    const idx = await saveProcessCheckpoint(g, o(4));
    const before = statSync(idx).mtimeMs;
    const saved = JSON.parse(readFileSync(idx, 'utf8')).saved;
    expect(await saveProcessCheckpoint(g, o(4))).toBe(idx);
    expect(statSync(idx).mtimeMs).toBe(before);
    expect(JSON.parse(readFileSync(idx, 'utf8')).saved).toBe(saved);
    expectRestores(checkpointFolder(dir, 4), mesh({ data: 3, model: 2 }), 3);
    await saveProcessCheckpoint(g, o(8));
    await saveProcessCheckpoint(g, o(12));
    expect(pruneProcessCheckpoints(dir, 2)).toEqual([checkpointFolder(dir, 4)]);
    expect(listProcessCheckpoints(dir).map((c) => c.step)).toEqual([8, 12]);
  });
});

// The official FLIP train state in a t5x checkpoint (io/t5x.ts) ↔ flip's params, AdamW moments and step.
//
// Official layout (facebookresearch/flip models_flip.py, its t5x/layers.py; train_state_initializer.py):
//   optimizer.target                          the params, official names and shapes
//   optimizer.state.step                      updates done (int32)
//   optimizer.state.param_states              the optax state of utils/adamw.py's chain, as flax's to_state_dict
//     "0": {count, mu, nu}                    scale_by_adam (mu in opt_mu_dtype, nu f32; trees like target)
//     "1": {"inner_state": {}}                masked(add_decayed_weights) (with exclude_wd; else {})
//     "2": {count}                            scale_by_schedule
// flip's params have the same paths; shapes are row-major reshapes of the official ones (models/README.md):
// q/k/v kernels [embed, heads, kv] ↔ [embed, heads·kv], their biases [heads, kv] ↔ [heads·kv], out kernel
// [heads, kv, embed] ↔ [heads·kv, embed], cls [embed] ↔ [1, 1, embed], pos_embedding [length, embed] ↔
// [1, length, embed], logit_scale [] ↔ [1]. flip holds params and moments in f32: bfloat16 / float16 leaves (e.g. mu
// with opt_mu_dtype=bfloat16) widen exactly; other dtypes do not fit.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { bf16ToF32, f16ToF32 } from '../compiler/ir/dtype.ts';
import { sincos2dTable } from '../dsl/nn/posembed.ts';
import type { FlipModelConfig } from '../models/flip.ts';
import { FlaxArray, numpyName } from '../io/msgpack.ts';
import type { TensorData, TensorMap } from '../io/safetensors.ts';
import { writeSafetensors } from '../io/safetensors.ts';
import { isT5xCheckpoint, readT5xCheckpoint, writeT5xCheckpoint, ZarrLeaf, type T5xOut, type T5xTree, type T5xValue } from '../io/t5x.ts';
import { CHECKPOINT_FORMAT, CheckpointError, loadCheckpoint, type HostState, type LoadedCheckpoint } from './checkpoint.ts';
import { specLeaves } from './compiled.ts';
import { paramSpecs } from './step.ts';

/** The image position embedding, which the official pretrain_dir rule drops when its shape differs. */
export const IMG_POS_EMBEDDING = 'img_encoder.posembed_encoder.pos_embedding';

/** The official shape of a flip param (see the header). */
export function officialShape(flipPath: string, shape: readonly number[]): number[] {
  const last2 = flipPath.split('.').slice(-2).join('.');
  if (/^(query|key|value)\.kernel$/.test(last2) && shape.length === 3) return [shape[0]!, shape[1]! * shape[2]!];
  if (/^(query|key|value)\.bias$/.test(last2) && shape.length === 2) return [shape[0]! * shape[1]!];
  if (last2 === 'out.kernel' && shape.length === 3) return [shape[0]! * shape[1]!, shape[2]!];
  if (flipPath === 'img_encoder.cls') return [1, 1, ...shape];
  if (flipPath.endsWith('posembed_encoder.pos_embedding')) return [1, ...shape];
  if (flipPath === 'logit_scale' && shape.length === 0) return [1];
  return [...shape];
}

const show = (dtype: string, shape: readonly number[]) => `${dtype}[${shape.join(', ')}]`;
const FLOATS = new Set(['f32', 'bf16', 'f16']);

/** The leaf's dtype and shape without reading its zarr chunks. */
function leafInfo(v: T5xValue): { dtype: string; shape: number[] } | null {
  if (v instanceof FlaxArray) return { dtype: v.tensor.dtype, shape: v.tensor.shape };
  if (v instanceof ZarrLeaf) return { dtype: v.dtype, shape: v.shape };
  return null;
}

/** The tensor as flip's f32, in flip's shape. */
function toFlipF32(t: TensorData, shape: readonly number[]): TensorData<'f32'> {
  let data: Float32Array;
  if (t.dtype === 'f32') data = t.data as Float32Array;
  else if (t.dtype === 'bf16') data = Float32Array.from(t.data as Uint16Array, bf16ToF32);
  else data = Float32Array.from(t.data as Uint16Array, f16ToF32);
  return { dtype: 'f32', shape: [...shape], data };
}

const isTree = (v: T5xValue | undefined): v is T5xTree =>
  !!v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof FlaxArray) && !(v instanceof ZarrLeaf) && !(v instanceof Uint8Array);

function get(tree: T5xTree, keys: readonly string[]): T5xValue | undefined {
  let v: T5xValue | undefined = tree;
  for (const k of keys) v = isTree(v) && Object.hasOwn(v, k) ? v[k] : undefined;
  return v;
}

function leavesOf(tree: T5xTree, at: string[] = []): string[][] {
  const out: string[][] = [];
  for (const [k, v] of Object.entries(tree)) {
    if (isTree(v)) out.push(...leavesOf(v, [...at, k]));
    else out.push([...at, k]);
  }
  return out;
}

/** Where the AdamW moments are in param_states: the entry holding mu and nu (utils/adamw.py's chain: "0"). */
function adamEntry(ps: T5xValue | undefined): string | null {
  if (!isTree(ps)) return null;
  for (const k of Object.keys(ps).sort()) if (isTree(ps[k]) && isTree(get(ps[k] as T5xTree, ['mu'])) && isTree(get(ps[k] as T5xTree, ['nu']))) return k;
  return null;
}

export interface T5xLoadOptions {
  /** Read the AdamW moments too (resume). */
  moments: boolean;
  /** pretrain_dir's rule: the image position embedding is dropped (the model's own is used) when its shape differs. */
  pretrain: boolean;
  configName?: string;
  /** The run's batch size, for the samples seen (step × batch; t5x keeps no count). */
  batchSize?: number;
}

/**
 * Loads a t5x checkpoint (a checkpoint_<step> folder or its parent: the newest) into flip's layout for `model`,
 * checking every param (and with `moments`, mu and nu) against the model first: a mismatch is one CheckpointError
 * naming the first differing param in the official layout with both shapes.
 */
export function loadT5xCheckpoint(where: string, model: FlipModelConfig, opts: T5xLoadOptions): LoadedCheckpoint {
  const ck = readT5xCheckpoint(where);
  const want = specLeaves(paramSpecs(model));
  const opt = ck.optimizer;
  const target = get(opt, ['target']);
  if (!isTree(target)) throw new CheckpointError(`${ck.dir}: the t5x checkpoint has no 'target' (the params)`);
  const notes: string[] = [];
  const groups: Array<[group: 'params' | 'mu' | 'nu', prefix: string[], tree: T5xTree]> = [['params', ['target'], target]];
  if (opts.moments) {
    const ps = get(opt, ['state', 'param_states']);
    const k = adamEntry(ps);
    if (k === null) throw new CheckpointError(`${ck.dir}: the t5x checkpoint has no AdamW moments (state/param_states/<i>/mu and nu); resume needs them (--config.train.pretrainDir takes the params only)`);
    const entry = (ps as T5xTree)[k] as T5xTree;
    groups.push(['mu', ['state', 'param_states', k, 'mu'], entry.mu as T5xTree], ['nu', ['state', 'param_states', k, 'nu'], entry.nu as T5xTree]);
  }
  const drop = new Set<string>();
  if (opts.pretrain) {
    const pe = want.find(([p]) => p === IMG_POS_EMBEDDING);
    const info = leafInfo(get(target, IMG_POS_EMBEDDING.split('.')) as T5xValue);
    if (pe && info && info.shape.join() !== officialShape(pe[0], pe[1].shape).join()) {
      drop.add(IMG_POS_EMBEDDING);
      notes.push(`pretrain: the checkpoint's image position embedding ${show(numpyName(info.dtype as never), info.shape)} does not fit this model's ${show('float32', officialShape(pe[0], pe[1].shape))}: using the model's own (the official pretrain_dir rule)`);
    }
  }
  const problems: string[] = [];
  for (const [, prefix, tree] of groups) {
    const name = (p: string) => [...prefix, ...p.split('.')].join('/');
    for (const [p, s] of want) {
      if (drop.has(p) && prefix[0] === 'target') continue;
      const official = officialShape(p, s.shape);
      const info = leafInfo(get(tree, p.split('.')) as T5xValue);
      if (!info) problems.push(`'${name(p)}' (${show('float32', official)} in this config's model) is not in the checkpoint`);
      else if (info.shape.join() !== official.join()) problems.push(`'${name(p)}' is ${show(numpyName(info.dtype as never), info.shape)} in the checkpoint but ${show('float32', official)} in this config's model`);
      else if (!FLOATS.has(info.dtype)) problems.push(`'${name(p)}' is ${show(numpyName(info.dtype as never), info.shape)} in the checkpoint: not a float (flip reads float32, bfloat16 and float16 params and moments)`);
    }
    const known = new Set(want.map(([p]) => p));
    for (const keys of leavesOf(tree)) {
      const p = keys.join('.');
      if (!known.has(p)) problems.push(`the checkpoint's '${[...prefix, ...keys].join('/')}' is not a parameter of this config's model`);
    }
  }
  if (problems.length) {
    throw new CheckpointError(
      `${ck.dir} does not fit this config's model${opts.configName ? ` ('${opts.configName}')` : ''}: ${problems[0]}` +
        `${problems.length > 1 ? `; ${problems.length - 1} more tensor(s) differ` : ''}. A t5x checkpoint carries no config: run with the one it was trained with (--config, e.g. configs/flip_large.ts for FLIP-L/16, and the same --config.model.* overrides)`,
    );
  }
  const state: HostState = { params: {}, mu: {}, nu: {} };
  for (const [group, , tree] of groups) {
    for (const [p, s] of want) {
      if (group === 'params' && drop.has(p)) {
        const [h, w] = [model.img.imageSize / model.img.patchSize[0], model.img.imageSize / model.img.patchSize[1]];
        state.params[p] = { dtype: 'f32', shape: [...s.shape], data: sincos2dTable(model.img.hiddenSize, h, w, true) };
        continue;
      }
      const v = get(tree, p.split('.')) as T5xValue;
      const t = v instanceof FlaxArray ? v.tensor : (v as ZarrLeaf).read();
      state[group][p] = toFlipF32(t, s.shape);
    }
  }
  const stateStep = ck.stateStep;
  const step = stateStep ?? ck.dirStep ?? 0;
  if (opts.moments && stateStep === null) throw new CheckpointError(`${ck.dir}: the t5x checkpoint has no state/step; resume needs it`);
  // A folder renamed or copied under another checkpoint_<step>: t5x goes on from the optimizer's own count, so does flip.
  const renamed = stateStep !== null && ck.dirStep !== null && stateStep !== ck.dirStep
    ? [`t5x checkpoint: its folder ${path.basename(ck.dir)} says step ${ck.dirStep} but its state/step is ${stateStep}; flip goes by state/step, as t5x does`]
    : [];
  return {
    file: ck.dir,
    state,
    notes: [...notes, ...renamed, ...(opts.moments ? ['t5x checkpoint: no data position in it; the data stream starts from the beginning'] : [])],
    meta: { format: CHECKPOINT_FORMAT, origin: 't5x', step, position: null, samples: step * (opts.batchSize ?? 0), config: null, tensors: '', saved: '' },
  };
}

/** flip's params (or moments) as the official tree under `target` (nested maps, official shapes). */
function officialTree(map: TensorMap): { [k: string]: T5xOut } {
  const root: { [k: string]: T5xOut } = {};
  for (const [p, t] of Object.entries(map)) {
    const keys = p.split('.');
    let node = root;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as { [k: string]: T5xOut };
    node[keys[keys.length - 1]!] = { dtype: t.dtype, shape: officialShape(p, t.shape), data: t.data } as TensorData;
  }
  return root;
}

const int32 = (n: number): TensorData => ({ dtype: 'i32', shape: [], data: Int32Array.of(n) });

/** The state dict t5x's Checkpointer writes for flip's state at `step` (see the header). */
export function t5xStateDict(state: HostState, step: number, opts: { excludeWd: boolean }): { [k: string]: T5xOut } {
  return {
    target: officialTree(state.params),
    state: {
      step: int32(step),
      param_states: {
        0: { count: int32(step), mu: officialTree(state.mu), nu: officialTree(state.nu) },
        1: opts.excludeWd ? { inner_state: {} } : {},
        2: { count: int32(step) },
      },
    },
  };
}

/** Writes flip's state as `<outDir>/checkpoint_<step>/` for t5x's Checkpointer; returns that folder. */
export function exportT5x(state: HostState, step: number, outDir: string, opts: { excludeWd: boolean }): string {
  try {
    return writeT5xCheckpoint(outDir, step, t5xStateDict(state, step, opts));
  } catch (e) {
    throw e instanceof CheckpointError ? e : new CheckpointError((e as Error).message);
  }
}

/** Writes flip's state as one safetensors file with t5x's names ('/'-joined state-dict paths) and official shapes. */
export function exportOfficialSafetensors(state: HostState, step: number, file: string, opts: { excludeWd: boolean }): void {
  if (existsSync(file)) throw new CheckpointError(`${file} already exists; flip does not overwrite a checkpoint`);
  const flat: TensorMap = {};
  const walk = (v: T5xOut, at: string[]) => {
    if (ArrayBuffer.isView((v as TensorData).data)) flat[at.join('/')] = v as TensorData;
    else for (const [k, x] of Object.entries(v)) walk(x as T5xOut, [...at, k]);
  };
  walk(t5xStateDict(state, step, opts) as T5xOut, []);
  writeSafetensors(path.resolve(file), flat, { format: 't5x-state-dict', step: String(step) });
}

/**
 * `flip export`: flip's checkpoint at `where` (a workdir, its checkpoints/ folder or a checkpoint JSON: the newest)
 * written in the official layout: `t5x` → `<out>/checkpoint_<step>/` (t5x's Checkpointer restores it; `out` is the
 * t5x model dir), `safetensors` → the file `out`. Nothing existing is overwritten. Returns what was written.
 */
export function exportCheckpoint(where: string, format: 't5x' | 'safetensors', out: string): { written: string; step: number; tensors: number } {
  if (isT5xCheckpoint(where)) throw new CheckpointError(`${where} is a t5x checkpoint already; flip export converts flip's own checkpoints`);
  const ck = loadCheckpoint(where);
  const cfg = ck.meta.config as { train?: { optimizer?: { excludeWd?: unknown } } } | null;
  const excludeWd = cfg?.train?.optimizer?.excludeWd !== false;
  const tensors = Object.keys(ck.state.params).length * 3 + 3;
  if (format === 't5x') return { written: exportT5x(ck.state, ck.meta.step, out, { excludeWd }), step: ck.meta.step, tensors };
  exportOfficialSafetensors(ck.state, ck.meta.step, out, { excludeWd });
  return { written: path.resolve(out), step: ck.meta.step, tensors };
}

// A tiny pre-norm transformer block + classifier head and its AdamW train step, with t5x's logical axis names on
// every parameter and FLIP's explicit constraints (q/k/v, the MLP hidden), for the sharding tests. Sizes divide every
// mesh the tests use: batch 8 (data up to 8), heads 4 and mlp 16 (model up to 4).
import { einsum, gelu, layerNorm, logSoftmax, rename, shard, softmax, valueAndGrad, type Tensor } from '../../dsl/index.ts';
import { hostTensor, type HostTensor } from '../../programs/jit.ts';
import { adamwUpdate, FLIP_ADAMW } from '../../train/optimizer.ts';

export const SIZES = { batch: 8, length: 4, embed: 8, heads: 4, kv: 2, mlp: 16, classes: 4 } as const;

type F<A extends readonly string[]> = Tensor<'f32', Readonly<A>>;
export interface Params {
  norm: { scale: F<['embed']>; bias: F<['embed']> };
  attn: { query: F<['embed', 'heads', 'kv']>; key: F<['embed', 'heads', 'kv']>; value: F<['embed', 'heads', 'kv']>; out: F<['heads', 'kv', 'embed']> };
  mlp: { wi: F<['embed', 'mlp']>; bi: F<['mlp']>; wo: F<['mlp', 'embed']> };
  head: F<['embed', 'classes']>;
}
export interface Batch {
  x: F<['batch', 'length', 'embed']>;
  labels: F<['batch', 'classes']>;
}

export function logits(p: Params, x: F<['batch', 'length', 'embed']>): F<['batch', 'classes']> {
  const h = layerNorm(x, 'embed', { scale: p.norm.scale, bias: p.norm.bias });
  const q = shard(einsum('batch length embed, embed heads kv -> batch length heads kv', h, p.attn.query), ['batch', 'length', 'heads', 'kv']);
  const k = shard(einsum('batch length embed, embed heads kv -> batch length heads kv', h, p.attn.key), ['batch', 'length', 'heads', 'kv']);
  const v = shard(einsum('batch length embed, embed heads kv -> batch length heads kv', h, p.attn.value), ['batch', 'length', 'heads', 'kv']);
  const att = softmax(einsum('batch length heads kv, batch keys heads kv -> batch heads length keys', q, rename(k, 'length', 'keys')).mul(1 / Math.sqrt(SIZES.kv)), 'keys');
  const mixed = einsum('batch heads length keys, batch keys heads kv -> batch length heads kv', att, rename(v, 'length', 'keys'));
  const y = x.add(einsum('batch length heads kv, heads kv embed -> batch length embed', mixed, p.attn.out));
  const hidden = shard(gelu(einsum('batch length embed, embed mlp -> batch length mlp', y, p.mlp.wi).add(p.mlp.bi)), ['batch', 'length', 'mlp']);
  const z = y.add(einsum('batch length mlp, mlp embed -> batch length embed', hidden, p.mlp.wo));
  return einsum('batch length embed, embed classes -> batch classes', z, p.head).mul(1 / SIZES.length);
}

export function loss(p: Params, batch: Batch): F<[]> {
  return logSoftmax(logits(p, batch.x), 'classes').mul(batch.labels).sum().mul(-1 / SIZES.batch) as F<[]>;
}

export interface Opt {
  mu: Params;
  nu: Params;
}

/** One AdamW step (FLIP's settings, weight-decay mask) on the mean softmax cross-entropy. */
export function trainStep(params: Params, opt: Opt, batch: Batch, count: F<[]>, lr: F<[]>) {
  const [l, grads] = valueAndGrad(loss)(params, batch);
  const next = adamwUpdate(params, grads, opt, count, lr, FLIP_ADAMW);
  return { params: next.params, opt: next.state, metrics: { loss: l } };
}

/** Deterministic values in [-1, 1) (a small LCG: the same on every machine). */
function values(n: number, seed: number, scale: number): Float32Array {
  let s = (seed * 2654435761) >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}

function ht(sizes: Record<string, number>, seed: number, scale: number, fill?: number): HostTensor<'f32'> {
  const n = Object.values(sizes).reduce((a, b) => a * b, 1);
  return hostTensor('f32', sizes, fill === undefined ? values(n, seed, scale) : new Float32Array(n).fill(fill));
}

const S = SIZES;
type HostTree<T> = { [K in keyof T]: T[K] extends Tensor ? HostTensor<'f32'> : HostTree<T[K]> };

export function initParams(seed = 1, fill?: number): HostTree<Params> {
  const proj = { embed: S.embed, heads: S.heads, kv: S.kv };
  return {
    norm: { scale: fill === undefined ? hostTensor('f32', { embed: S.embed }, values(S.embed, seed, 0.1).map((v) => 1 + v)) : ht({ embed: S.embed }, seed, 0, fill), bias: ht({ embed: S.embed }, seed + 1, 0.1, fill) },
    attn: { query: ht(proj, seed + 2, 0.5, fill), key: ht(proj, seed + 3, 0.5, fill), value: ht(proj, seed + 4, 0.5, fill), out: ht({ heads: S.heads, kv: S.kv, embed: S.embed }, seed + 5, 0.5, fill) },
    mlp: { wi: ht({ embed: S.embed, mlp: S.mlp }, seed + 6, 0.5, fill), bi: ht({ mlp: S.mlp }, seed + 7, 0.1, fill), wo: ht({ mlp: S.mlp, embed: S.embed }, seed + 8, 0.5, fill) },
    head: ht({ embed: S.embed, classes: S.classes }, seed + 9, 0.5, fill),
  };
}

export function initOpt(): HostTree<Opt> {
  return { mu: initParams(0, 0), nu: initParams(0, 0) };
}

export function batch(seed: number): HostTree<Batch> {
  const labels = new Float32Array(S.batch * S.classes);
  for (let b = 0; b < S.batch; b++) labels[b * S.classes + ((b * 7 + seed) % S.classes)] = 1;
  return { x: ht({ batch: S.batch, length: S.length, embed: S.embed }, 100 + seed, 1), labels: hostTensor('f32', { batch: S.batch, classes: S.classes }, labels) };
}

export const scalarF32 = (v: number): HostTensor<'f32'> => hostTensor('f32', {}, Float32Array.of(v));

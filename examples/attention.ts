// One pre-norm self-attention block in the flip DSL: layerNorm → q/k/v projections → softmax(q·k/√d)·v → output projection + residual.
import { einsum, layerNorm, rename, softmax, spec, type Tensor } from '../dsl/index.ts';

export interface AttentionParams {
  norm: { scale: Tensor<'f32', ['embed']>; bias: Tensor<'f32', ['embed']> };
  query: Tensor<'f32', ['embed', 'heads', 'kv']>;
  key: Tensor<'f32', ['embed', 'heads', 'kv']>;
  value: Tensor<'f32', ['embed', 'heads', 'kv']>;
  out: Tensor<'f32', ['heads', 'kv', 'embed']>;
}

/** Multi-head self-attention over `length` with a residual connection; keys get their own axis name, `keys`. */
export function attention(x: Tensor<'f32', ['batch', 'length', 'embed']>, p: AttentionParams) {
  const h = layerNorm(x, 'embed', { scale: p.norm.scale, bias: p.norm.bias });
  const q = einsum('batch length embed, embed heads kv -> batch length heads kv', h, p.query);
  const k = rename(einsum('batch length embed, embed heads kv -> batch length heads kv', h, p.key), 'length', 'keys');
  const v = rename(einsum('batch length embed, embed heads kv -> batch length heads kv', h, p.value), 'length', 'keys');
  const logits = einsum('batch length heads kv, batch keys heads kv -> batch heads length keys', q, k).mul(1 / Math.sqrt(q.size('kv')));
  const weights = softmax(logits, 'keys');
  const mixed = einsum('batch heads length keys, batch keys heads kv -> batch length heads kv', weights, v);
  return x.add(einsum('batch length heads kv, heads kv embed -> batch length embed', mixed, p.out));
}

const sizes = { batch: 2, length: 6, embed: 8, heads: 2, kv: 4 };
const projection = spec('f32', { embed: sizes.embed, heads: sizes.heads, kv: sizes.kv });
export const attentionInputs = {
  x: spec('f32', { batch: sizes.batch, length: sizes.length, embed: sizes.embed }),
  p: {
    norm: { scale: spec('f32', { embed: sizes.embed }), bias: spec('f32', { embed: sizes.embed }) },
    query: projection,
    key: projection,
    value: projection,
    out: spec('f32', { heads: sizes.heads, kv: sizes.kv, embed: sizes.embed }),
  },
};

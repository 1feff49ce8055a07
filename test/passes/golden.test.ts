// Composite functions written in the DSL, differentiated by flip (valueAndGrad → VJP pass → jit on the CPU plugin),
// against JAX's jax.value_and_grad in float64 (test/golden/autodiff/golden.json, from make_golden.py).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { iota, layerNorm, type Tensor } from '../../dsl/index.ts';
import { valueAndGrad } from '../../dsl/transforms.ts';
import { HostTensor, jit, type DeviceTensor } from '../../programs/jit.ts';

interface Arr { dtype: 'f64' | 'i32'; shape: number[]; data: number[] }
interface Case { inputs: Record<string, Arr>; loss: number; grads: Record<string, Arr> }
const golden = JSON.parse(fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../golden/autodiff/golden.json'), 'utf8')) as Record<string, Case>;

type F<A extends readonly string[]> = Tensor<'f64', A>;

/** Golden inputs as host tensors with the axis names the DSL function uses. */
function inputs(c: Case, axes: Record<string, string[]>): HostTensor[] {
  return Object.entries(c.inputs).map(([name, a]) => {
    const type = { dtype: a.dtype, shape: a.shape, axes: axes[name]! };
    return new HostTensor(type, a.dtype === 'f64' ? Float64Array.from(a.data) : Int32Array.from(a.data));
  });
}

async function check(name: string, c: Case, value: DeviceTensor, grads: DeviceTensor[], wrt: string[]): Promise<void> {
  const loss = Number((await value.toHost())[0]);
  expect(Math.abs(loss - c.loss), `${name} loss ${loss} vs JAX ${c.loss}`).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(c.loss)));
  expect(grads).toHaveLength(wrt.length);
  for (const [k, g] of grads.entries()) {
    const want = c.grads[wrt[k]!]!;
    expect(g.type.shape, `${name} grad ${wrt[k]} shape`).toEqual(want.shape);
    const got = [...((await g.toHost()) as Float64Array)];
    const scale = Math.max(1e-3, ...want.data.map(Math.abs));
    const worst = Math.max(...got.map((x, i) => Math.abs(x - want.data[i]!)));
    expect(worst / scale, `${name} grad ${wrt[k]}: worst error ${worst} (scale ${scale})`).toBeLessThanOrEqual(1e-10);
  }
}

/** −mean over rows of log softmax(logits)[row, label], one-hot as FLIP's loss writes it. */
function softmaxCrossEntropy(logits: F<readonly ['batch', 'cls']>, labels: Tensor<'i32', readonly ['batch']>) {
  const oneHot = labels.oneHot('cls', logits.size('cls'), 'f64');
  return logits.logSoftmax('cls').mul(oneHot).sum('cls').mean().neg();
}

describe('gradients of composite functions match JAX (float64)', () => {
  it('softmax cross-entropy', async () => {
    const c = golden['softmax_cross_entropy']!;
    const [value, g] = await jit(valueAndGrad(softmaxCrossEntropy))(...(inputs(c, { logits: ['batch', 'cls'], labels: ['batch'] }) as [never, never]));
    await check('softmax_cross_entropy', c, value, [g], ['logits']);
  });

  it('layer norm', async () => {
    const c = golden['layer_norm']!;
    const fn = (x: F<readonly ['row', 'embed']>, scale: F<readonly ['embed']>, bias: F<readonly ['embed']>, w: F<readonly ['row', 'embed']>) =>
      layerNorm(x, 'embed', { scale, bias, eps: 1e-6 }).mul(w).sum();
    const args = inputs(c, { x: ['row', 'embed'], scale: ['embed'], bias: ['embed'], w: ['row', 'embed'] });
    const [value, grads] = await jit(valueAndGrad(fn, { argnums: [0, 1, 2] }))(...(args as [never, never, never, never]));
    await check('layer_norm', c, value, grads, ['x', 'scale', 'bias']);
  });

  it('attention block (pre-LN multi-head self-attention with a residual)', async () => {
    const c = golden['attention_block']!;
    type W = F<readonly ['embed', 'heads', 'kv']>;
    const fn = (x: F<readonly ['batch', 'length', 'embed']>, wq: W, wk: W, wv: W, wo: F<readonly ['heads', 'kv', 'embed']>,
      scale: F<readonly ['embed']>, bias: F<readonly ['embed']>) => {
      const h = layerNorm(x, 'embed', { scale, bias, eps: 1e-6 });
      const q = h.dot(wq, { contract: ['embed'] });
      const k = h.rename('length', 'keys').dot(wk, { contract: ['embed'] });
      const v = h.rename('length', 'keys').dot(wv, { contract: ['embed'] });
      const p = q.dot(k, { contract: ['kv'] }).div(Math.sqrt(q.size('kv'))).softmax('keys');
      const o = p.dot(v, { contract: ['keys'] });
      return x.add(o.dot(wo, { contract: ['heads', 'kv'] })).square().mean();
    };
    const w = ['embed', 'heads', 'kv'];
    const args = inputs(c, { x: ['batch', 'length', 'embed'], wq: w, wk: w, wv: w, wo: ['heads', 'kv', 'embed'], scale: ['embed'], bias: ['embed'] });
    const [value, grads] = await jit(valueAndGrad(fn, { argnums: [0, 1, 2, 3, 4, 5, 6] }))(...(args as [never, never, never, never, never, never, never]));
    await check('attention_block', c, value, grads, ['x', 'wq', 'wk', 'wv', 'wo', 'scale', 'bias']);
  });

  it('FLIP contrastive loss with a learnable temperature', async () => {
    const c = golden['contrastive']!;
    const fn = (img: F<readonly ['batch', 'embed']>, txt: F<readonly ['batch', 'embed']>, t: F<readonly []>) => {
      const a = img.div(img.square().sum('embed').sqrt());
      const b = txt.div(txt.square().sum('embed').sqrt()).rename('batch', 'other');
      const logits = a.dot(b, { contract: ['embed'] }).mul(t.exp());
      const n = logits.size('batch');
      const eye = iota('i32', { batch: n, other: n }, 'batch').eq(iota('i32', { batch: n, other: n }, 'other')).astype('f64');
      const imageToText = logits.logSoftmax('other').mul(eye).sum().div(-n);
      const textToImage = logits.logSoftmax('batch').mul(eye).sum().div(-n);
      return imageToText.add(textToImage).div(2);
    };
    const args = inputs(c, { a: ['batch', 'embed'], b: ['batch', 'embed'], t: [] });
    const [value, grads] = await jit(valueAndGrad(fn, { argnums: [0, 1, 2] }))(...(args as [never, never, never]));
    await check('contrastive', c, value, grads, ['a', 'b', 't']);
  });
});

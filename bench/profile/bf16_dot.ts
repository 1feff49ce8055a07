// How the CPU plugin runs a bf16 matmul, in three StableHLO forms of the same product (flip_small's MLP dot,
// [1568, 384] x [384, 1536]): bf16 x bf16 -> bf16 (what a Flax module with dtype=bfloat16 emits), bf16 x bf16 -> f32
// rounded to bf16 after, and both operands converted to f32 first (an f32 dot) then rounded. Median of 9 runs each.
// With `wgrad` first, the weight-gradient form of the backward pass instead: [k, m]ᵀ x [k, n], contracting the
// rows of both (tokens); `wgradT`: [k, m]ᵀ x [n, k]ᵀ, the form XLA gives flip_small's weight gradients.
// Usage: npx tsx bench/profile/bf16_dot.ts [wgrad|wgradT] [m] [k] [n]
import { openClient } from '../../runtime-native/index.ts';

const form = ['wgrad', 'wgradT'].includes(process.argv[2] ?? '') ? process.argv[2]! : 'fwd';
const wgrad = form !== 'fwd', bT = form === 'wgradT';
const args = process.argv.slice(wgrad ? 3 : 2);
const [m, k, n] = [Number(args[0] ?? (wgrad ? 384 : 1568)), Number(args[1] ?? (wgrad ? 1568 : 384)), Number(args[2] ?? 1536)];
const dims = wgrad ? `contracting_dims = [0] x [${bT ? 1 : 0}]` : 'contracting_dims = [1] x [0]';
const Bs = bT ? `${n}x${k}` : `${k}x${n}`;
const A = wgrad ? `${k}x${m}` : `${m}x${k}`;
const forms: Record<string, string> = {
  'bf16 dot -> bf16': `%r = stablehlo.dot_general %a, %b, ${dims} : (tensor<${A}xbf16>, tensor<${Bs}xbf16>) -> tensor<${m}x${n}xbf16>`,
  'bf16 dot -> f32, then bf16': `%d = stablehlo.dot_general %a, %b, ${dims} : (tensor<${A}xbf16>, tensor<${Bs}xbf16>) -> tensor<${m}x${n}xf32>
    %r = stablehlo.convert %d : (tensor<${m}x${n}xf32>) -> tensor<${m}x${n}xbf16>`,
  'f32 dot of converted operands, then bf16': `%a32 = stablehlo.convert %a : (tensor<${A}xbf16>) -> tensor<${A}xf32>
    %b32 = stablehlo.convert %b : (tensor<${Bs}xbf16>) -> tensor<${Bs}xf32>
    %d = stablehlo.dot_general %a32, %b32, ${dims} : (tensor<${A}xf32>, tensor<${Bs}xf32>) -> tensor<${m}x${n}xf32>
    %r = stablehlo.convert %d : (tensor<${m}x${n}xf32>) -> tensor<${m}x${n}xbf16>`,
};
const client = await openClient({ target: 'cpu', devices: 1 });
const bits = (len: number) => new Uint16Array(len).map((_, i) => 0x3f80 + (i % 97)); // bf16 values in [1, 2)
const a = client.toDevice(bits(m * k), wgrad ? [k, m] : [m, k], 'bf16'), b = client.toDevice(bits(k * n), bT ? [n, k] : [k, n], 'bf16');
const results: Record<string, number[]> = {};
for (const [name, body] of Object.entries(forms)) {
  const exe = await client.compile(`func.func public @main(%a: tensor<${A}xbf16>, %b: tensor<${Bs}xbf16>) -> tensor<${m}x${n}xbf16> {
    ${body}
    return %r : tensor<${m}x${n}xbf16>
  }`);
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const [r] = await exe.run([a, b]);
    await r!.toHost();
    if (i > 0) times.push((performance.now() - t0) / 1000);
  }
  results[name] = times.sort((x, y) => x - y);
  exe.dispose();
}
const flops = 2 * m * k * n;
for (const [name, t] of Object.entries(results)) {
  const med = t[Math.floor(t.length / 2)]!;
  console.log(`${name.padEnd(42)} ${(med * 1000).toFixed(1)} ms (${(t[0]! * 1000).toFixed(1)}–${(t.at(-1)! * 1000).toFixed(1)}), ${(flops / med / 1e9).toFixed(1)} GFLOP/s`);
}
client.dispose();

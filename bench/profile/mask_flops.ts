// What masking can pay by the FLOPs alone: for each config, a train step's model FLOPs (bench/flops.ts's formula) at
// mask 0.5 and 0.75 as a share of mask 0, and the text tower's share at mask 0 (work no mask removes). A step's time
// is its FLOPs over its MFU, so the time ratio the bench reports is this FLOPs ratio x MFU at mask 0 / MFU at the mask.
// Usage: npx tsx bench/profile/mask_flops.ts [batch]   (default 8, the bench's)
import { BENCH_CONFIGS, maskFlopsShare, withMask } from '../plan.ts';
import { trainStepFlops } from '../flops.ts';

const batch = Number(process.argv[2] ?? 8);
if (!Number.isInteger(batch) || batch < 1) {
  console.error(`mask_flops: batch must be a positive integer, got '${process.argv[2]}'`);
  process.exit(2);
}
console.log(`model FLOPs of a train step at batch ${batch}, as a share of mask 0`);
console.log('config      mask 0 GFLOP  mask 0.5  mask 0.75  text tower share');
for (const cfg of Object.values(BENCH_CONFIGS)) {
  const at = (mask: number) => trainStepFlops(withMask(cfg, mask).model, batch);
  const f0 = at(0);
  const share = (mask: number) => maskFlopsShare(cfg, mask, batch).toFixed(3);
  console.log(`${cfg.name.padEnd(11)} ${(f0.train / 1e9).toFixed(0).padStart(12)}  ${share(0.5).padStart(8)}  ${share(0.75).padStart(9)}  ` +
    `${((3 * f0.forward.textTower) / f0.train).toFixed(3).padStart(16)}`);
}

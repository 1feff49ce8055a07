// The run's plan (train/run/plan.ts): what flip run resolves from its options before anything is opened, and the
// notes it prints about the config.
import { describe, expect, it } from 'vitest';
import tiny from '../../configs/flip_tiny.ts';
import { override } from '../../configs/official.ts';
import { planRun } from '../../train/run/plan.ts';

describe('planRun', () => {
  it('notes a run that is all warm-up (warmupEpochs ≥ numEpochs), and not one with a cosine phase', () => {
    const allWarmup = planRun({ config: override(tiny, { train: { warmupEpochs: 1, numEpochs: 1 } }), workdir: 'runs/unused' });
    expect(allWarmup.notes).toContainEqual(expect.stringMatching(/^note: train\.warmupEpochs \(1\) ≥ train\.numEpochs \(1\): the whole run is warm-up/));
    const usual = planRun({ config: tiny, workdir: 'runs/unused' });
    expect(usual.notes.filter((n) => n.includes('warm-up'))).toEqual([]);
  });
});

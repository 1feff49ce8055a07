// The bench's measurements in order, flip's and JAX's taking turns (JAX's half may be absent: `--skip-jax`, and the
// harness test, run flip's alone through the same loop).
import { pipelineData, platformOf, type CachedCompileResult, type CompileResult, type FlipHalfResult, type FlipSide, type Session as FlipSession, type StepResult } from './flip_bench.ts';
import type { JaxCompile, JaxHalfResult, JaxSide, JaxStep, Session as JaxSession } from './jax_half.ts';
import { scannedModel, type BenchPlan } from './plan.ts';
import type { QuietGate } from './quiet.ts';

/**
 * Every measurement of the plan, flip's and JAX's in turn. The matmul: both compile and warm up, then their timed runs
 * alternate one by one. The train steps: every mask's step is compiled and warmed up on both sides first, then round
 * after round each mask gets one timed step of each system (the order rotating). Each pair of runs waits at the quiet
 * gate. So other work on a shared machine lands on both systems and all masks alike, rather than on whichever
 * happened to run while it did. Then the input pipeline (flip's) and the compile figures, pair by pair.
 */
export async function interleaved(
  plan: BenchPlan, flipSide: FlipSide, jaxSide: JaxSide | null, o: { budget: number; gate: QuietGate | null; log: (s: string) => void },
): Promise<{ flip: FlipHalfResult; jax: JaxHalfResult | null }> {
  const start = performance.now();
  const { gate } = o;
  const J = jaxSide;
  const repPair = async (f: FlipSession<unknown>, j: JaxSession<unknown> | null, jaxFirst: boolean, what: string) => {
    await gate?.wait(what);
    if (j && jaxFirst) await j.rep();
    await f.rep();
    if (j && !jaxFirst) await j.rep();
  };
  const fp = await flipSide.peak(), jp = J && (await J.peak());
  for (let i = 0; i < plan.peak.reps; i++) await repPair(fp, jp, i % 2 === 1, 'the matmul');
  const flipPeak = fp.finish(), jaxPeak = jp ? await jp.finish() : null;

  const masks = plan.steps.masks;
  type StepSession = { f: FlipSession<StepResult>; j: JaxSession<JaxStep> | null; what: string };
  const rounds = async (sessions: StepSession[]) => {
    for (let i = 0; i < plan.steps.steps; i++) {
      for (let k = 0; k < sessions.length; k++) {
        const m = (i + k) % sessions.length;
        await repPair(sessions[m]!.f, sessions[m]!.j, (i + k) % 2 === 1, sessions[m]!.what);
      }
    }
  };
  const f32: StepSession[] = [];
  for (const mask of masks) f32.push({ f: await flipSide.steps(mask), j: J && (await J.steps(mask)), what: `a step at mask ${mask}` });
  await rounds(f32);
  // bf16 (model.dtype = 'bfloat16'): flip's alone, in rounds of their own after the f32 ones, so that both systems'
  // f32 steps take turns with the same programs (three each); timed in the f32 rounds, flip's steps rotated through
  // six programs to JAX's three, which cost flip up to 20% at mask 0.75 (docs/performance.md).
  const bf16: StepSession[] = [];
  for (const mask of plan.steps.bf16Masks ?? []) bf16.push({ f: await flipSide.steps(mask, 'bfloat16'), j: null, what: `a bf16 step at mask ${mask}` });
  await rounds(bf16);
  const flipSteps: StepResult[] = [], jaxSteps: JaxStep[] = [];
  for (const s of [...f32, ...bf16]) {
    flipSteps.push(s.f.finish());
    if (s.j) jaxSteps.push(await s.j.finish());
  }

  const dir = await pipelineData(plan, flipSide.workdir);
  await gate?.wait('the input pipeline');
  const pipeline = await flipSide.pipeline(dir);
  const flipCompile: CompileResult[] = [], jaxCompile: JaxCompile[] = [];
  for (const [k, m] of plan.compile.entries()) {
    const elapsed = (performance.now() - start) / 1000;
    if (elapsed > o.budget) {
      o.log(`${m.name}: compile not measured (${elapsed.toFixed(0)}s spent, --budget ${o.budget}s)`);
      continue;
    }
    // A model JAX fails to compile leaves its JAX column empty; the run goes on.
    const jaxCompileOf = async (): Promise<JaxCompile | null> => {
      try {
        return await J!.compile(m.name);
      } catch (e) {
        o.log(`JAX: ${m.name}: ${(e as Error).message}`);
        return null;
      }
    };
    const flipFirst = k % 2 === 0 || !J;
    await gate?.wait(`compiling ${m.name}`);
    const j0 = !flipFirst ? await jaxCompileOf() : null;
    if (!flipFirst) await gate?.wait(`compiling ${m.name}`);
    const f = await flipSide.compile(m);
    if (flipFirst && J) await gate?.wait(`compiling ${m.name}`);
    const j = flipFirst && J ? await jaxCompileOf() : j0;
    flipCompile.push(f);
    if (j) jaxCompile.push(j);
    // The same model with its layers scanned (flip only): what a smaller program saves in XLA's compile.
    await gate?.wait(`compiling ${m.name} with scanned layers`);
    flipCompile.push(await flipSide.compile(scannedModel(m)));
  }
  // The cached compile: the first compile model's step twice through an empty persistent compilation cache.
  const cm = plan.compile[0];
  let cachedCompile: CachedCompileResult | undefined;
  if (cm && (performance.now() - start) / 1000 <= o.budget) {
    await gate?.wait(`compiling ${cm.name} twice through the compilation cache`);
    cachedCompile = await flipSide.cachedCompile(cm);
  } else if (cm) o.log(`${cm.name}: cached compile not measured (--budget ${o.budget}s spent)`);
  const flip: FlipHalfResult = {
    platform: platformOf(flipSide.client), peak: flipPeak, steps: flipSteps, compile: flipCompile, ...(cachedCompile ? { cachedCompile } : {}), pipeline,
    waitedSeconds: gate?.waited ?? 0,
  };
  const jax: JaxHalfResult | null = J && jaxPeak ? { ...(await J.info()), peak: jaxPeak, steps: jaxSteps, compile: jaxCompile } : null;
  return { flip, jax };
}

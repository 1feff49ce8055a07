// compiler/load in-process: how `flipc compile` finds an entry and its input shapes, and what it says when it cannot.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ShapeError } from '../../compiler/ir/index.ts';
import { EntryError, InputSpecError, REPO_ROOT, TypeCheckError, lowerEntry, type LoadOptions } from '../../compiler/load/index.ts';

/** The lowered entry's IR (what flipc compile prints) and what the loader found. */
const traceEntry = async (file: string, opts: LoadOptions) => {
  const { program, loaded } = await lowerEntry(file, opts);
  return { func: program.func, loaded };
};

const dir = mkdtempSync(path.join(tmpdir(), 'flipc-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}\n');
const dsl = JSON.stringify(path.join(REPO_ROOT, 'dsl', 'index.ts'));
function fixture(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `import { dot, spec, type Tensor } from ${dsl};\n${body}`);
  return file;
}

const model = fixture('model.ts', `
export interface Params { w: Tensor<'f32', ['embed', 'mlp']> }
/** x·w, scaled by a static JS number. */
export function project(x: Tensor<'f32', ['batch', 'embed']>, params: Params, scale: number) {
  return dot(x, params.w, { contract: ['embed'] }).mul(scale);
}
export const twice = (x: Tensor<'f32', ['batch']>) => x.add(x);
export { project as projectAgain };
export const projectInputs = { x: spec('f32', { batch: 2, embed: 3 }), params: { w: spec('f32', { embed: 3, mlp: 4 }) }, scale: 0.5 };
export const twiceInputs = [spec('f32', { batch: 5 })];
export const projectAgainInputs = { x: spec('f32', { batch: 2, embed: 3 }), params: { w: spec('f32', { embed: 3, hidden: 4 }) }, scale: 1 };
`);
const config = fixture('config.ts', `
export default { batch: 7 };
export const twiceInputs = (cfg: { batch: number }) => ({ x: spec('f32', { batch: cfg.batch }) });
`);
const badArgs = fixture('bad_args.ts', `
export function f(x: Tensor<'f32', ['batch']>, y: Tensor<'f32', ['batch']>) { return x.add(y); }
export function g(x: Tensor<'f32', ['batch']>) { return x.add(x); }
export function h(x: Tensor<'f32', ['batch']>) { return x.add(x); }
export function k(x: Tensor<'f32', ['batch', 'embed']>) { return x.add(x); }
export function none(x: Tensor<'f32', ['batch', 'embed']>) { return x.add(x); }
export const fInputs = { x: spec('f32', { batch: 2 }), z: spec('f32', { batch: 2 }) };
export const gInputs = [spec('f32', { batch: 2 }), spec('f32', { batch: 2 })];
export const hInputs = { x: 'not a spec' as unknown as object };
export const kInputs = { x: spec('f32', { embed: 3, batch: 2 }) };
export function m(p: { w: Tensor<'f32', ['batch']>; b: Tensor<'f32', ['batch']> }) { return p.w.add(p.b); }
export const mInputs = { p: { b: spec('f32', { batch: 2 }) } };
export function n(x: Tensor<'f32', ['batch']>) { return x; }
export const nInputs = { x: new Date() };
`);

describe('compiler/load', () => {
  it('traces an entry with nested params and a static number, named by parameter paths', async () => {
    const { func, loaded } = await traceEntry(model, { entry: 'project' });
    expect(func.name).toBe('project');
    expect(func.params.map((p) => p.type.shape)).toEqual([[2, 3], [3, 4]]);
    expect(func.paramInfo.map((i) => i.name)).toEqual(['x', 'params.w']);
    expect(func.results[0]!.type.axes).toEqual(['batch', 'mlp']);
    expect(func.loc).toEqual({ file: path.relative(process.cwd(), model), line: 5, col: 1 });
    expect(loaded.entry.params.map((p) => p.name)).toEqual(['x', 'params', 'scale']);
    expect(loaded.inputsFrom).toMatch(/model\.ts: projectInputs$/);
  });

  it('takes positional inputs from an array, and from a --config function over its default export', async () => {
    expect((await traceEntry(model, { entry: 'twice' })).func.params[0]!.type.shape).toEqual([5]);
    const fromConfig = await traceEntry(model, { entry: 'twice', config });
    expect(fromConfig.func.params[0]!.type.shape).toEqual([7]);
    expect(fromConfig.loaded.inputsFrom).toMatch(/config\.ts: twiceInputs$/);
  });

  it('finds re-exported functions and checks nested params against their declared types', async () => {
    await expect(traceEntry(model, { entry: 'projectAgain' })).rejects.toThrow(ShapeError);
    await expect(traceEntry(model, { entry: 'projectAgain' })).rejects.toThrow(
      /projectAgainInputs: input 'params\.w' is f32\[embed=3, hidden=4\], but projectAgain declares it Tensor<"f32", \["embed", "mlp"\]>/,
    );
  });

  it('lists the exported functions when the entry is missing or unknown', async () => {
    await expect(traceEntry(model, { entry: undefined })).rejects.toThrow(EntryError);
    await expect(traceEntry(model, { entry: undefined })).rejects.toThrow(/name the function to compile with --entry \(exported functions of .*model\.ts: project, twice, projectAgain\)$/);
    await expect(traceEntry(model, { entry: 'projct' })).rejects.toThrow(/exports no function 'projct' \(exported functions: project, twice, projectAgain\)$/);
  });

  it('says what is wrong with an input declaration', async () => {
    await expect(traceEntry(badArgs, { entry: 'f' })).rejects.toThrow(InputSpecError);
    await expect(traceEntry(badArgs, { entry: 'f' })).rejects.toThrow(/fInputs has 'z', which f\(x, y\) does not take$/);
    await expect(traceEntry(badArgs, { entry: 'g' })).rejects.toThrow(/gInputs lists 2 arguments, but g\(x\) takes 1$/);
    await expect(traceEntry(badArgs, { entry: 'h' })).rejects.toThrow(/hInputs: input 'x' is "not a spec", but h declares it Tensor<"f32", \["batch"\]>: give a spec\(dtype, \{axis: size\}\)$/);
    await expect(traceEntry(badArgs, { entry: 'm' })).rejects.toThrow(/mInputs: input 'p\.w' is missing, but m declares it Tensor<"f32", \["batch"\]>/);
    await expect(traceEntry(badArgs, { entry: 'n' })).rejects.toThrow(/nInputs: input 'x' is neither a spec\(dtype, \{axis: size\}\) nor a JS scalar$/);
    await expect(traceEntry(badArgs, { entry: 'k' })).rejects.toThrow(/kInputs: input 'x' is f32\[embed=3, batch=2\], but k declares it Tensor<"f32", \["batch", "embed"\]>/);
    await expect(traceEntry(badArgs, { entry: 'none' })).rejects.toThrow(
      /no input shapes for 'none': export 'noneInputs' from .*bad_args\.ts \(e\.g\. export const noneInputs = \{ x: spec\('f32', \{ batch: 8, embed: 64 \}\) \}\)/,
    );
  });

  it('reports every type error of a file as file:line:col', async () => {
    const broken = fixture('broken.ts', `export function f(x: Tensor<'f32', ['batch']>) {
  const a: number = 'one';
  return x.mul(a).sum('length');
}
`);
    const err = await traceEntry(broken, { entry: 'f' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeCheckError);
    const lines = (err as Error).message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/broken\.ts:3:9: Type 'string' is not assignable to type 'number'\. \(TS2322\)$/);
    expect(lines[1]).toMatch(/broken\.ts:4:23: .*'"length"'.* \(TS2345\)$/);
  });
});

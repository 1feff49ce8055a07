// Tracing with bare IR values (no DSL loaded): parameters, results, names, nesting, captures, inlining, locations.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FlipError, ShapeError, printFunc, tensorType, verifyFunc, type Value } from '../../compiler/ir/index.ts';
import { currentBuilder, inlineFunc, isTracing, spec, traceFunc, unflatten, userLoc } from '../../compiler/trace/index.ts';

const SOURCE = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
/** 1-based line and column of `code` on the line that carries `marker`. */
function where(marker: string, code: string): { line: number; col: number } {
  const i = SOURCE.findIndex((l) => l.includes(marker) && !l.includes('where('));
  return { line: i + 1, col: SOURCE[i]!.indexOf(code) + 1 };
}

const add = (a: Value, b: Value) => currentBuilder().emit1('add', [a, b], {}); // HELPER-ADD
const tanh = (a: Value) => currentBuilder().emit1('tanh', [a], {});

describe('traceFunc', () => {
  it('turns a pytree of specs into named parameters and the output pytree into results', () => {
    const x = spec('f32', { batch: 2, embed: 4 });
    const t = traceFunc(
      (params: { enc: { w: Value; b: Value } }, inputs: Value[], scale: number) => ({ y: add(tanh(params.enc.w), inputs[1]!), s: scale, extra: [params.enc.b] }),
      [{ enc: { w: x, b: x } }, [x, x], 3],
      { name: 'step' },
    );
    expect(t.func.name).toBe('step');
    expect(t.func.params.map((p) => p.type)).toEqual([x, x, x, x]);
    expect(t.func.paramInfo.map((i) => i.name)).toEqual(['params.enc.w', 'params.enc.b', 'inputs.0', 'inputs.1']);
    expect(t.func.resultInfo.map((i) => i.name)).toEqual(['y', 'extra.0']);
    expect(t.func.ops.map((o) => o.prim)).toEqual(['tanh', 'add']);
    expect(t.func.results[1]).toBe(t.func.params[1]); // a parameter returned as is
    expect(verifyFunc(t.func)).toEqual([]);
    // the out tree keeps the static 3: rebuilding it from the result values gives the function's output shape
    const out = unflatten<{ y: Value; s: number; extra: Value[] }>(t.outTree, t.func.results);
    expect(out.s).toBe(3);
    expect(out.extra[0]).toBe(t.func.params[1]);
    expect(unflatten<unknown[]>(t.inTree, ['w', 'b', 'i0', 'i1'])).toEqual([{ enc: { w: 'w', b: 'b' } }, ['i0', 'i1'], 3]);
    expect(t.captured).toEqual([]);
  });

  it('names arguments argN when the parameter list is not plain identifiers, or as told', () => {
    const s = spec('f32', { a: 3 });
    const t1 = traceFunc(({ u }: { u: Value }) => tanh(u), [{ u: s }]);
    expect(t1.func.paramInfo[0]!.name).toBe('arg0.u');
    expect(t1.func.resultInfo[0]!.name).toBeUndefined();
    const t2 = traceFunc((a: Value) => tanh(a), [s], { argNames: ['images'] });
    expect(t2.func.paramInfo[0]!.name).toBe('images');
    function loss(params: Value, batch: Value) {
      return add(params, batch);
    }
    expect(traceFunc(loss, [s, s]).func).toMatchObject({ name: 'loss', paramInfo: [{ name: 'params' }, { name: 'batch' }] });
    const withDefault = (images: Value, scale = 2) => (scale > 1 ? tanh(images) : images);
    expect(traceFunc(withDefault, [s]).func.paramInfo[0]!.name).toBe('images');
    expect(traceFunc((...xs: Value[]) => xs[0], [s]).func.paramInfo[0]!.name).toBe('arg0');
  });

  it('refuses leaves that are neither specs nor tensors, and outputs that are not tensors', () => {
    expect(() => traceFunc((a: unknown) => a, [new Date(0)])).toThrow(/argument leaf 'a' is neither a TensorSpec nor a tensor \(got Date\)/);
    expect(() => traceFunc(() => ({ d: new Map() }), [])).toThrow(/output leaf 'd' is not a tensor \(got Map\)/);
  });

  it('records the user line of each op, not the library frame', () => {
    // The first frame outside compiler/ and dsl/ is the caller of the builder: here, this line.
    const t = traceFunc((a: Value) => currentBuilder().emit1('tanh', [a], {}), [spec('f32', { a: 3 })]); // LOC-1
    const { line, col } = where('LOC-1', 'emit1(');
    expect(t.func.ops[0]!.loc).toEqual({ file: 'test/trace/trace.test.ts', line, col });
    expect(printFunc(t.func)).toContain(`# test/trace/trace.test.ts:${line}:${col}`);
    const here = userLoc(); // LOC-2
    expect(here).toEqual({ file: 'test/trace/trace.test.ts', ...where('LOC-2', 'userLoc()') });
  });

  it('adds the user line to shape errors raised by the IR', () => {
    const f = () => traceFunc((a: Value, b: Value) => add(a, b), [spec('f32', { batch: 8, embed: 4 }), spec('f32', { batch: 8, mlp: 16 })]);
    // `add` above is this file's helper, so the user frame is the helper's line.
    const { line, col } = where('HELPER-ADD', 'emit1(');
    expect(f).toThrow(ShapeError);
    expect(f).toThrow(`test/trace/trace.test.ts:${line}:${col}: add: operand shapes differ: f32[batch=8, embed=4] vs f32[batch=8, mlp=16]`);
  });

  it('needs an active trace to emit, and pops it even when the function throws', () => {
    expect(isTracing()).toBe(false);
    expect(() => currentBuilder()).toThrow(/only while tracing/);
    expect(() => traceFunc(() => { throw new Error('boom'); }, [])).toThrow('boom');
    expect(isTracing()).toBe(false);
  });
});

describe('nested traces and inlineFunc', () => {
  it('traces a sub-function inside an outer trace and inlines it with fresh ids', () => {
    const s = spec('f32', { a: 3 });
    let inner: ReturnType<typeof traceFunc> | undefined;
    const outer = traceFunc((x: Value) => {
      expect(isTracing()).toBe(true);
      inner = traceFunc((y: Value) => tanh(add(y, y)), [x]);
      const [r1] = inlineFunc(inner.func, [x]);
      const [r2] = inlineFunc(inner.func, [r1!]);
      return r2;
    }, [s]);
    expect(inner!.func.params.length).toBe(1);
    expect(verifyFunc(inner!.func)).toEqual([]);
    expect(verifyFunc(outer.func)).toEqual([]);
    expect(outer.func.ops.map((o) => o.prim)).toEqual(['add', 'tanh', 'add', 'tanh']);
    const innerIds = new Set(inner!.func.ops.flatMap((o) => o.results.map((r) => r.id)));
    for (const op of outer.func.ops) for (const r of op.results) expect(innerIds.has(r.id)).toBe(false);
    expect(outer.func.ops[0]!.loc).toEqual(inner!.func.ops[0]!.loc);
  });

  it('captures outer values an inner function closes over as trailing parameters', () => {
    const s = spec('f32', { a: 3 });
    const outer = traceFunc((x: Value, batch: Value) => {
      const inner = traceFunc((p: Value) => add(p, batch), [x]);
      expect(inner.captured).toEqual([batch]);
      expect(inner.func.params.length).toBe(2);
      expect(inner.func.paramInfo[1]!.name).toBe('captured.0');
      expect(verifyFunc(inner.func)).toEqual([]);
      return inlineFunc(inner.func, [x, ...inner.captured])[0];
    }, [s, s]);
    expect(verifyFunc(outer.func)).toEqual([]);
    expect(outer.func.ops[0]!.operands).toEqual([outer.func.params[0], outer.func.params[1]]);
  });

  it('captures through two levels, and returns of outer values', () => {
    const s = spec('f32', { a: 3 });
    const outer = traceFunc((x: Value) => {
      const mid = traceFunc(() => {
        const inner = traceFunc(() => tanh(x), []);
        expect(inner.captured).toEqual([x]);
        return inlineFunc(inner.func, [...inner.captured])[0];
      }, []);
      expect(mid.captured).toEqual([x]);
      const ret = traceFunc(() => x, []);
      expect(ret.func.results[0]).toBe(ret.func.params[0]);
      return inlineFunc(mid.func, [...mid.captured])[0];
    }, [s]);
    expect(outer.func.ops.map((o) => o.prim)).toEqual(['tanh']);
    expect(verifyFunc(outer.func)).toEqual([]);
  });

  it('refuses a value that escaped a finished trace, and wrong inline arguments', () => {
    const s = spec('f32', { a: 3 });
    let leaked: Value | undefined;
    traceFunc((x: Value) => (leaked = tanh(x)), [s]);
    expect(() => traceFunc((x: Value) => add(x, leaked!), [s])).toThrow(/belongs to a trace that has ended/);
    const f = traceFunc((x: Value) => tanh(x), [s]).func;
    expect(() => inlineFunc(f, [])).toThrow(FlipError);
    expect(() => traceFunc((y: Value) => inlineFunc(f, [y]), [spec('f32', { a: 4 })])).toThrow(/argument 0 of @main is f32\[a=4\], expected f32\[a=3\]/);
    expect(() => traceFunc(() => inlineFunc(f, [f.params[0]!]), [])).toThrow(/belongs to a trace that has ended/);
  });

  it('keeps checkpoint tags of inlined ops and tags untagged ones with the region active at the call', () => {
    const s = spec('f32', { a: 3 });
    const inner = { region: 1, policy: 'nothing_saveable' } as const;
    const outer = { region: 2, policy: 'dots_saveable' } as const;
    const t = traceFunc((x: Value) => {
      const sub = traceFunc((y: Value) => tanh(currentBuilder().withRemat(inner, () => tanh(y))), [x]);
      const [plain] = inlineFunc(sub.func, [x]);
      return currentBuilder().withRemat(outer, () => inlineFunc(sub.func, [plain!])[0]);
    }, [s]);
    expect(t.func.ops.map((o) => o.remat)).toEqual([inner, undefined, inner, outer]);
    expect(verifyFunc(t.func)).toEqual([]);
  });

  it('uses a given spec or an outer tensor type for parameters', () => {
    const t = traceFunc((a: Value) => a, [tensorType('i32', [2, 5], ['batch', 'length'])]);
    expect(t.func.params[0]!.type).toEqual({ dtype: 'i32', shape: [2, 5], axes: ['batch', 'length'] });
  });
});

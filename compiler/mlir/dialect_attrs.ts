// Dialect attributes `#dialect.name<...>`: the StableHLO ones the verifier reads become typed
// (gather/scatter/dot/conv dimension numbers, enums); all others are kept verbatim.
import type { IToken } from 'chevrotain';
import type { AttrAst, ConvDims, Pos } from './ast.ts';

type Fail = (msg: string, p?: Pos) => never;

/** A cursor over the tokens of an attribute body. */
class Tokens {
  i = 0;
  constructor(readonly toks: IToken[], readonly fail: Fail, readonly posOf: (t: IToken) => Pos, readonly end: Pos) {}
  peek(): IToken | undefined {
    return this.toks[this.i];
  }
  at(): Pos {
    const t = this.peek();
    return t ? this.posOf(t) : this.end;
  }
  take(image?: string): IToken {
    const t = this.peek();
    if (!t) this.fail(`expected ${image ? `'${image}'` : 'more'} before '>'`, this.end);
    if (image !== undefined && t.image !== image) this.fail(`expected '${image}' but found '${t.image}'`, this.posOf(t));
    this.i++;
    return t;
  }
  ident(): string {
    const t = this.take();
    if (!/^[a-zA-Z_][\w$.]*$/.test(t.image)) this.fail(`expected a name but found '${t.image}'`, this.posOf(t));
    return t.image;
  }
  int(): number {
    const neg = this.peek()?.image === '-' ? (this.i++, -1) : 1;
    const t = this.take();
    if (!/^\d+$/.test(t.image)) this.fail(`expected an integer but found '${t.image}'`, this.posOf(t));
    return neg * Number(t.image);
  }
  /** `[1, 2]` of integers or layout letters. */
  list(): (number | string)[] {
    this.take('[');
    const out: (number | string)[] = [];
    while (this.peek()?.image !== ']') {
      const t = this.peek();
      if (t && /^[a-z]$/.test(t.image)) out.push(this.take().image);
      else out.push(this.int());
      if (this.peek()?.image === ',') this.i++;
      else break;
    }
    this.take(']');
    return out;
  }
  ints(): number[] {
    const xs = this.list();
    for (const x of xs) if (typeof x !== 'number') this.fail(`expected an integer but found '${x}'`, this.at());
    return xs as number[];
  }
  done(): boolean {
    return this.i >= this.toks.length;
  }
  /** `key = value, ...` where each value is an integer or an integer list. */
  keyValues(allowed: Record<string, 'int' | 'list'>): Map<string, number | number[]> {
    const out = new Map<string, number | number[]>();
    while (!this.done()) {
      const p = this.at();
      const key = this.ident();
      const kind = allowed[key];
      if (!kind) this.fail(`unknown field '${key}' (fields: ${Object.keys(allowed).join(', ')})`, p);
      this.take('=');
      out.set(key, kind === 'int' ? this.int() : this.ints());
      if (!this.done()) this.take(',');
    }
    return out;
  }
}

export function dialectAttr(fullName: string, tokens: IToken[], text: string, pos: Pos, fail: Fail, posOf: (t: IToken) => Pos): AttrAst {
  const dot = fullName.indexOf('.');
  const dialect = dot < 0 ? fullName : fullName.slice(0, dot);
  const name = dot < 0 ? null : fullName.slice(dot + 1);
  const opaque: AttrAst = { kind: 'opaque', dialect, name, body: text };
  if (dialect !== 'stablehlo' && dialect !== 'chlo' && dialect !== 'mhlo') return opaque;
  const c = new Tokens(tokens, fail, posOf, pos);
  if (name === null) {
    // `#stablehlo<precision DEFAULT>`
    if (tokens.length === 2 && tokens.every((t) => /^[a-zA-Z_]\w*$/.test(t.image))) {
      return { kind: 'enum', dialect, enumName: tokens[0]!.image, value: tokens[1]!.image };
    }
    return opaque;
  }
  if (dialect !== 'stablehlo') return opaque;
  switch (name) {
    case 'gather': {
      const kv = c.keyValues({
        offset_dims: 'list', collapsed_slice_dims: 'list', operand_batching_dims: 'list', start_indices_batching_dims: 'list',
        start_index_map: 'list', index_vector_dim: 'int',
      });
      const l = (k: string): number[] => (kv.get(k) as number[] | undefined) ?? [];
      return {
        kind: 'gather',
        dims: {
          offsetDims: l('offset_dims'), collapsedSliceDims: l('collapsed_slice_dims'), operandBatchingDims: l('operand_batching_dims'),
          startIndicesBatchingDims: l('start_indices_batching_dims'), startIndexMap: l('start_index_map'),
          indexVectorDim: (kv.get('index_vector_dim') as number | undefined) ?? 0,
        },
      };
    }
    case 'scatter': {
      const kv = c.keyValues({
        update_window_dims: 'list', inserted_window_dims: 'list', input_batching_dims: 'list', scatter_indices_batching_dims: 'list',
        scatter_dims_to_operand_dims: 'list', index_vector_dim: 'int',
      });
      const l = (k: string): number[] => (kv.get(k) as number[] | undefined) ?? [];
      return {
        kind: 'scatter',
        dims: {
          updateWindowDims: l('update_window_dims'), insertedWindowDims: l('inserted_window_dims'), inputBatchingDims: l('input_batching_dims'),
          scatterIndicesBatchingDims: l('scatter_indices_batching_dims'), scatterDimsToOperandDims: l('scatter_dims_to_operand_dims'),
          indexVectorDim: (kv.get('index_vector_dim') as number | undefined) ?? 0,
        },
      };
    }
    case 'dot': {
      const kv = c.keyValues({
        lhs_batching_dimensions: 'list', rhs_batching_dimensions: 'list', lhs_contracting_dimensions: 'list', rhs_contracting_dimensions: 'list',
      });
      const l = (k: string): number[] => (kv.get(k) as number[] | undefined) ?? [];
      return {
        kind: 'dot',
        dims: {
          lhsBatchingDims: l('lhs_batching_dimensions'), rhsBatchingDims: l('rhs_batching_dimensions'),
          lhsContractingDims: l('lhs_contracting_dimensions'), rhsContractingDims: l('rhs_contracting_dimensions'),
        },
      };
    }
    case 'conv': {
      if (c.peek()?.image === 'raw') {
        c.take('raw');
        const kv = c.keyValues({
          input_batch_dimension: 'int', input_feature_dimension: 'int', input_spatial_dimensions: 'list',
          kernel_input_feature_dimension: 'int', kernel_output_feature_dimension: 'int', kernel_spatial_dimensions: 'list',
          output_batch_dimension: 'int', output_feature_dimension: 'int', output_spatial_dimensions: 'list',
        });
        const n = (k: string): number => (kv.get(k) as number | undefined) ?? 0;
        const l = (k: string): number[] => (kv.get(k) as number[] | undefined) ?? [];
        return {
          kind: 'conv', raw: false,
          dims: {
            inputBatchDim: n('input_batch_dimension'), inputFeatureDim: n('input_feature_dimension'), inputSpatialDims: l('input_spatial_dimensions'),
            kernelInputFeatureDim: n('kernel_input_feature_dimension'), kernelOutputFeatureDim: n('kernel_output_feature_dimension'),
            kernelSpatialDims: l('kernel_spatial_dimensions'), outputBatchDim: n('output_batch_dimension'),
            outputFeatureDim: n('output_feature_dimension'), outputSpatialDims: l('output_spatial_dimensions'),
          },
        };
      }
      const lhs = c.list();
      if (c.take().image !== 'x') fail(`expected 'x' between the input and kernel layouts`, pos);
      const rhs = c.list();
      c.take('->');
      const out = c.list();
      if (!c.done()) fail(`unexpected '${c.peek()!.image}' after the convolution layouts`, c.at());
      return { kind: 'conv', raw: false, dims: convDimsFromLayouts(lhs, rhs, out, (m) => fail(m, pos)) };
    }
    default:
      return opaque;
  }
}

/** `[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]` to dimension numbers. */
export function convDimsFromLayouts(lhs: (number | string)[], rhs: (number | string)[], out: (number | string)[], fail: (msg: string) => never): ConvDims {
  const read = (layout: (number | string)[], a: string, b: string, what: string): { a: number; b: number; spatial: number[] } => {
    let ai = -1;
    let bi = -1;
    const spatial: number[] = new Array<number>(Math.max(0, layout.length - 2)).fill(-1);
    layout.forEach((x, i) => {
      if (x === a) {
        if (ai >= 0) fail(`'${a}' appears twice in the ${what} layout`);
        ai = i;
      } else if (x === b) {
        if (bi >= 0) fail(`'${b}' appears twice in the ${what} layout`);
        bi = i;
      } else if (typeof x === 'number' && x >= 0 && x < spatial.length && spatial[x] === -1) spatial[x] = i;
      else fail(`unexpected '${x}' in the ${what} layout [${layout.join(', ')}]`);
    });
    if (ai < 0 || bi < 0) fail(`the ${what} layout [${layout.join(', ')}] needs '${a}' and '${b}'`);
    return { a: ai, b: bi, spatial };
  };
  const i = read(lhs, 'b', 'f', 'input');
  const k = read(rhs, 'i', 'o', 'kernel');
  const o = read(out, 'b', 'f', 'output');
  return {
    inputBatchDim: i.a, inputFeatureDim: i.b, inputSpatialDims: i.spatial,
    kernelInputFeatureDim: k.a, kernelOutputFeatureDim: k.b, kernelSpatialDims: k.spatial,
    outputBatchDim: o.a, outputFeatureDim: o.b, outputSpatialDims: o.spatial,
  };
}

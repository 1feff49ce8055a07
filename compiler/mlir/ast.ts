// The typed AST of an MLIR module as StableHLO producers (JAX, flip's emitter) write it.
//
// Ops are normalized: whether an op was written in generic form (`"stablehlo.sort"(...) <{...}> ({...})`)
// or in its pretty form (`stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : ...`), its
// operands, inherent attributes (`properties`), regions and operand/result types end up in the same
// fields, so the verifier reads one shape. `syntax` remembers which form to print back.

/** A source position: 1-based line and column, 0-based offset into the text. */
export interface Pos {
  line: number;
  col: number;
  offset: number;
}

// ---------------------------------------------------------------------------------------- types

export type TypeAst =
  /** `tensor<2x?x3xf32>`: sizes, null for a dynamic `?`; `shape: null` for unranked `tensor<*xf32>`. */
  | { kind: 'tensor'; shape: (number | null)[] | null; element: TypeAst; encoding: AttrAst | null }
  /** Builtin scalar types: `f32`, `bf16`, `i1`, `ui32`, `index`, `none`, `f8E4M3FN`, ... */
  | { kind: 'scalar'; name: string }
  | { kind: 'complex'; element: TypeAst }
  | { kind: 'tuple'; types: TypeAst[] }
  /** `!stablehlo.token`, `!quant.uniform<i8:f32, 0.5>` (body kept verbatim), or a `!alias`. */
  | { kind: 'dialect'; name: string; body: string | null }
  | { kind: 'function'; inputs: TypeAst[]; results: TypeAst[] };

// ----------------------------------------------------------------------------------- attributes

export interface NamedAttr {
  name: string;
  /** Whether the name was written as a string (`"foo bar" = 1`). */
  quoted: boolean;
  value: AttrAst;
  pos: Pos;
}

/** The payload of `dense<...>`. Scalars keep their literal text so they print back exactly. */
export type DenseLiteral =
  | { kind: 'scalar'; text: string }
  | { kind: 'complex'; re: string; im: string }
  | { kind: 'list'; items: DenseLiteral[] }
  /** `dense<"0x0000803F...">`: the raw little-endian bytes, hex. */
  | { kind: 'hex'; text: string };

export interface GatherDims {
  offsetDims: number[];
  collapsedSliceDims: number[];
  operandBatchingDims: number[];
  startIndicesBatchingDims: number[];
  startIndexMap: number[];
  indexVectorDim: number;
}

export interface ScatterDims {
  updateWindowDims: number[];
  insertedWindowDims: number[];
  inputBatchingDims: number[];
  scatterIndicesBatchingDims: number[];
  scatterDimsToOperandDims: number[];
  indexVectorDim: number;
}

export interface DotDims {
  lhsBatchingDims: number[];
  rhsBatchingDims: number[];
  lhsContractingDims: number[];
  rhsContractingDims: number[];
}

/** Convolution dimension numbers, the layout that `[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]` spells. */
export interface ConvDims {
  inputBatchDim: number;
  inputFeatureDim: number;
  inputSpatialDims: number[];
  kernelInputFeatureDim: number;
  kernelOutputFeatureDim: number;
  kernelSpatialDims: number[];
  outputBatchDim: number;
  outputFeatureDim: number;
  outputSpatialDims: number[];
}

export type AttrAst =
  | { kind: 'int'; value: bigint; type: TypeAst | null }
  /** Floats keep their text (`9.99999997E-7`, `0x7FC00000` in hex form) so printing is exact. */
  | { kind: 'float'; text: string; type: TypeAst | null }
  | { kind: 'bool'; value: boolean }
  /** `value` is the literal between the quotes, escapes as written (see `decodeString`). */
  | { kind: 'string'; value: string; type: TypeAst | null }
  | { kind: 'array'; elements: AttrAst[] }
  | { kind: 'dict'; entries: NamedAttr[] }
  /** `array<i64: 1, 4>` */
  | { kind: 'dense_array'; elementType: TypeAst; values: string[] }
  /** `dense<...> : tensor<...>` (the type is absent only inside custom op syntax that supplies it). */
  | { kind: 'dense'; value: DenseLiteral; type: TypeAst | null }
  | { kind: 'type'; type: TypeAst }
  /** `@a::@b` */
  | { kind: 'symbol'; path: string[] }
  | { kind: 'unit' }
  /** A bare keyword of custom syntax: `DEFAULT`, `b`, `f`, `THREE_FRY`. */
  | { kind: 'ident'; name: string }
  /** A use of an attribute alias `#name` defined at top level. */
  | { kind: 'alias'; name: string }
  /** A dialect attribute we keep verbatim: `#sdy.sharding<@mesh, [{"data"}, {}]>` (name null for `#dialect<...>`). */
  | { kind: 'opaque'; dialect: string; name: string | null; body: string }
  /** `<...>` in custom op syntax (`algorithm = <...>`, `sdy.mesh @m = <[...]>`), kept verbatim. */
  | { kind: 'angle'; body: string }
  | { kind: 'gather'; dims: GatherDims }
  | { kind: 'scatter'; dims: ScatterDims }
  | { kind: 'dot'; dims: DotDims }
  | { kind: 'conv'; dims: ConvDims; raw: boolean }
  /** `#stablehlo<precision DEFAULT>`, `#stablehlo<comparison_direction GT>`, ... */
  | { kind: 'enum'; dialect: string; enumName: string; value: string };

// ------------------------------------------------------------------------------------ locations

export type LocAst =
  | { kind: 'unknown' }
  /** `"file.ts":3:5`, optionally `to :9` or `to 4:2`. */
  | { kind: 'file'; file: string; line: number; col: number; endLine: number | null; endCol: number | null }
  /** `"name"` or `"name"(child)` */
  | { kind: 'name'; name: string; child: LocAst | null }
  | { kind: 'callsite'; callee: LocAst; caller: LocAst }
  | { kind: 'fused'; metadata: AttrAst | null; locs: LocAst[] }
  /** `#loc3`, resolved through the module's aliases. */
  | { kind: 'alias'; name: string };

// ---------------------------------------------------------------------------------- ops, blocks

/** A use of an SSA value: `%1` or `%1#0`. */
export interface ValueUse {
  name: string;
  index: number | null;
  pos: Pos;
}

/** The names an op defines: `%0`, `%1:2` (count 2). */
export interface ResultGroup {
  name: string;
  count: number;
  pos: Pos;
}

export interface BlockArg {
  name: string;
  type: TypeAst;
  attrs: NamedAttr[];
  loc: LocAst | null;
  pos: Pos;
}

export interface BlockAst {
  /** `^bb0`, or null for an entry block written without a label. */
  label: string | null;
  args: BlockArg[];
  ops: OpAst[];
  pos: Pos;
}

export interface RegionAst {
  blocks: BlockAst[];
  pos: Pos;
}

/** How an op outside the ops we know was written in pretty form; kept to print it back verbatim. */
export interface CustomSyntax {
  /** Source text between the op name and the `:` of its type signature. */
  header: string;
  /** The header follows the name without a space (`sdy.manual_computation(%x) ...`). */
  tight: boolean;
  signature: SignatureAst | null;
  /** Source text after the signature (trailing regions written by custom printers). */
  trailer: string;
}

/** A type signature after `:` in pretty syntax. */
export type SignatureAst =
  | { kind: 'list'; types: TypeAst[] }
  /** `bare`: written `T -> R` (chlo style); `parenResults`: results in parentheses. */
  | { kind: 'function'; inputs: TypeAst[]; results: TypeAst[]; bare: boolean; parenResults: boolean };

export interface OpAst {
  kind: 'op';
  name: string;
  results: ResultGroup[];
  operands: ValueUse[];
  /** Inherent attributes (`<{...}>` in generic form, the keywords of the pretty form). */
  properties: NamedAttr[];
  /** The discardable attribute dictionary `{...}`. */
  attributes: NamedAttr[];
  regions: RegionAst[];
  successors: string[];
  /** Null where the syntax does not say (unknown pretty ops). */
  operandTypes: TypeAst[] | null;
  resultTypes: TypeAst[] | null;
  loc: LocAst | null;
  syntax: 'generic' | 'pretty';
  /** `stablehlo.reduce ... applies stablehlo.add ...`: the body op of the short reduce form. */
  applies: string | null;
  /** Set for pretty ops we do not know: printed back as written. */
  custom: CustomSyntax | null;
  pos: Pos;
}

export interface FuncArg extends BlockArg {}

export interface FuncResult {
  type: TypeAst;
  attrs: NamedAttr[];
  loc: LocAst | null;
}

export interface FuncAst {
  kind: 'func';
  name: string;
  /** `public` (written or implied), `private`, `nested`. */
  visibility: string | null;
  args: FuncArg[];
  results: FuncResult[];
  /** Whether the results were written in parentheses. */
  parenResults: boolean;
  attributes: NamedAttr[];
  /** Null for a declaration. */
  body: RegionAst | null;
  loc: LocAst | null;
  pos: Pos;
}

export type ModuleItem = FuncAst | OpAst | ModuleAst;

/** `#loc1 = loc("x")`, `#map = ...`, `!tok = !stablehlo.token` at the top of or after a module. */
export type AliasDef =
  | { kind: 'loc'; name: string; loc: LocAst; pos: Pos }
  | { kind: 'attr'; name: string; value: AttrAst; pos: Pos }
  | { kind: 'type'; name: string; type: TypeAst; pos: Pos };

export interface ModuleAst {
  kind: 'module';
  /** `@jit_mlp`, without the `@`; null when unnamed. */
  name: string | null;
  attributes: NamedAttr[];
  body: ModuleItem[];
  loc: LocAst | null;
  /** True when the text had no `module` wrapper (ops at top level). */
  implicit: boolean;
  /** Alias definitions before and after the module (only on the outermost module). */
  aliasesBefore: AliasDef[];
  aliasesAfter: AliasDef[];
  filename: string;
  pos: Pos;
}

export function functions(m: ModuleAst): FuncAst[] {
  return m.body.filter((x): x is FuncAst => x.kind === 'func');
}

/** Looks an attribute up among an op's properties, then its attribute dictionary. */
export function getAttr(op: Pick<OpAst, 'properties' | 'attributes'>, name: string): AttrAst | undefined {
  return op.properties.find((a) => a.name === name)?.value ?? op.attributes.find((a) => a.name === name)?.value;
}

/** The number of SSA values an op defines. */
export function resultCount(op: OpAst): number {
  return op.results.reduce((n, r) => n + r.count, 0);
}

// The pieces of pretty op syntax, as the parser reads them before an op's format interprets them.
//
// StableHLO's pretty forms (`stablehlo.pad %x, %v, low = [1, 0], high = [0, 2], interior = [0, 0]`,
// `stablehlo.reduce(%x init: %c) applies stablehlo.add across dimensions = [1]`, ...) are all a run
// of these pieces, then `:` and a type signature, then trailing regions. The parser reads any
// such run; `formats.ts` checks that the run fits the op and turns it into operands and attributes.
import type { AttrAst, LocAst, NamedAttr, Pos, RegionAst, TypeAst, ValueUse } from './ast.ts';

/** One entry of a parenthesized group: `%x`, `%a = %b` (while), `%a init: %b` (reduce), `%a: T` (block args). */
export interface ParenItem {
  /** Null for a `name = attr` item (custom syntax of other dialects: `chlo.top_k(%x, k = 2)`). */
  value: ValueUse | null;
  kw: { name: string; value: AttrAst } | null;
  /** `= %b` or `init: %b` */
  bound: ValueUse | null;
  boundKind: '=' | 'init' | null;
  type: TypeAst | null;
  loc: LocAst | null;
}

/** One entry of `[0:2, 1:3:1]` (slice) or `[0]` (get_tuple_element). */
export type SliceItem = number[];

export type Piece =
  | { k: 'value'; use: ValueUse; pos: Pos }
  | { k: 'comma'; pos: Pos }
  | { k: 'equals'; pos: Pos }
  /** `name = value`, where value may be `[1] x [0]` (values of length 2) or `[b, 0, f]x[...]->[...]` (arrow set). */
  | { k: 'kw'; name: string; values: AttrAst[]; arrow: AttrAst | null; pos: Pos }
  | { k: 'ident'; name: string; pos: Pos }
  | { k: 'applies'; op: string; pos: Pos }
  | { k: 'symbol'; path: string[]; pos: Pos }
  | { k: 'paren'; items: ParenItem[]; pos: Pos }
  | { k: 'bracket'; items: SliceItem[]; pos: Pos }
  | { k: 'attrdict'; entries: NamedAttr[]; pos: Pos }
  | { k: 'region'; region: RegionAst; pos: Pos }
  | { k: 'attr'; value: AttrAst; pos: Pos };

export type Trailer =
  | { k: 'reducer'; groups: ParenItem[][]; region: RegionAst; pos: Pos }
  | { k: 'while'; cond: RegionAst; body: RegionAst; pos: Pos };

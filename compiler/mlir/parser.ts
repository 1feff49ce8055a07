// The chevrotain grammar of MLIR text: modules, func.func, generic and pretty ops, regions,
// attributes, types and locations. Builds the AST of ast.ts; pretty op pieces go to formats.ts.
import { EmbeddedActionsParser, EOF, tokenMatcher, type IToken, type TokenType, type IParserErrorMessageProvider } from 'chevrotain';
import type {
  AliasDef, AttrAst, BlockArg, BlockAst, DenseLiteral, FuncAst, FuncResult, LocAst, ModuleAst, ModuleItem, NamedAttr,
  OpAst, Pos, RegionAst, ResultGroup, SignatureAst, TypeAst, ValueUse,
} from './ast.ts';
import { dialectAttr } from './dialect_attrs.ts';
import { MlirSyntaxError } from './errors.ts';
import { interpretPretty } from './formats.ts';
import {
  allTokens, AppliesKw, Arrow, ArrayKw, Atom, AttributesKw, BangId, CallKw, CaretId, Colon, ColonColon, Comma, ComplexKw,
  CondKw, DenseKw, DimX, DoKw, DottedId, Equals, FalseKw, FloatLit, FuncFunc, HashId, HexLit, IntLit, LAngle, LBrace,
  LBracket, LocKw, LParen, Minus, ModuleKw, PlainId, Question, RAngle, RBrace, RBracket, ReducerKw, ResultNum, ReturnKw,
  RParen, StringLit, SymbolRef, TensorStart, TrueKw, TupleKw, UnitKw, ValueId, Plus, Star, AnyIdent,
} from './lexer.ts';
import type { ParenItem, Piece, SliceItem, Trailer } from './pieces.ts';

const SCALAR_TYPE = /^(?:f16|bf16|f32|f64|f80|f128|tf32|[su]?i\d+|index|none|f8E\w+|f6E\w+|f4E\w+)$/;

export function isScalarTypeName(s: string): boolean {
  return SCALAR_TYPE.test(s);
}

const short = (s: string): string => (s.length > 40 ? s.slice(0, 37) + '...' : s);
const describe = (t: IToken): string => (t.tokenType === EOF ? 'end of input' : `'${short(t.image)}'`);
const label = (t: TokenType): string => t.LABEL ?? t.name;

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual }) => `expected ${label(expected)} but found ${describe(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) => `unexpected ${describe(firstRedundant)} after the end of the module`,
  buildNoViableAltMessage: ({ actual, ruleName }) => `unexpected ${describe(actual[0]!)} in ${ruleName.replace(/([A-Z])/g, ' $1').toLowerCase()}`,
  buildEarlyExitMessage: ({ actual, ruleName }) => `unexpected ${describe(actual[0]!)} in ${ruleName.replace(/([A-Z])/g, ' $1').toLowerCase()}`,
};

interface RawPretty {
  name: string;
  namePos: Pos;
  tight: boolean;
  pieces: Piece[];
  signature: SignatureAst | null;
  trailers: Trailer[];
  headerStart: number;
  headerEnd: number;
  trailerStart: number;
  trailerEnd: number;
}

export class MlirParser extends EmbeddedActionsParser {
  text = '';
  filename = '<input>';

  constructor() {
    super(allTokens, { recoveryEnabled: false, maxLookahead: 3, errorMessageProvider: messages });
    this.performSelfAnalysis();
  }

  pos(t: IToken): Pos {
    if (t.tokenType === EOF || Number.isNaN(t.startOffset) || t.startOffset < 0) return endPos(this.text);
    return { line: t.startLine ?? 1, col: t.startColumn ?? 1, offset: t.startOffset };
  }

  fail(detail: string, p: Pos): never {
    throw new MlirSyntaxError(detail, this.filename, p.line, p.col);
  }

  /** `%a =`, `%a:2 =`, `%a, %b =`: the start of the next op, not an operand. */
  resultDefAhead(): boolean {
    let i = 1;
    for (let guard = 0; guard < 64; guard++) {
      if (this.LA(i).tokenType !== ValueId) return false;
      i++;
      if (this.LA(i).tokenType === Colon && this.LA(i + 1).tokenType === IntLit) i += 2;
      const t = this.LA(i).tokenType;
      if (t === Equals) return true;
      if (t !== Comma) return false;
      i++;
    }
    return false;
  }

  /** `func.func`, `stablehlo.add`, `return`, ... not followed by `=`: the name of the next op. */
  nextOpNameAhead(): boolean {
    const t = this.LA(1).tokenType;
    if (t !== DottedId && t !== FuncFunc && t !== ReturnKw && t !== CallKw && t !== ModuleKw) return false;
    return this.LA(2).tokenType !== Equals;
  }

  /** `{}` or `{name = ...`, `{name,`, `{name}`: an attribute dictionary rather than a region. */
  attrDictAhead(): boolean {
    const t2 = this.LA(2).tokenType;
    if (t2 === RBrace) return true;
    const isName = t2 === StringLit || tokenMatcher(this.LA(2), AnyIdent);
    if (!isName) return false;
    const t3 = this.LA(3).tokenType;
    return t3 === Equals || t3 === Comma || t3 === RBrace;
  }

  // ------------------------------------------------------------------------------------ top level

  file = this.RULE('file', (): ModuleAst => {
    const items: ModuleItem[] = [];
    const before: AliasDef[] = [];
    const after: AliasDef[] = [];
    const first = this.LA(1);
    this.MANY(() => {
      this.OR([
        { ALT: () => { const a = this.SUBRULE(this.aliasDef); this.ACTION(() => (items.length ? after : before).push(a)); } },
        { ALT: () => { const m = this.SUBRULE(this.moduleOp); this.ACTION(() => items.push(m)); } },
        { ALT: () => { const f = this.SUBRULE(this.funcOp); this.ACTION(() => items.push(f)); } },
        { ALT: () => { const o = this.SUBRULE(this.operation); this.ACTION(() => items.push(o)); } },
      ]);
    });
    return this.ACTION(() => {
      const only = items.length === 1 && items[0]!.kind === 'module' ? items[0] : null;
      const m: ModuleAst = only ?? {
        kind: 'module', name: null, attributes: [], body: items, loc: null, implicit: true,
        aliasesBefore: [], aliasesAfter: [], filename: this.filename, pos: this.pos(first),
      };
      m.aliasesBefore = before;
      m.aliasesAfter = after;
      return m;
    })!;
  });

  aliasDef = this.RULE('aliasDef', (): AliasDef => {
    return this.OR([
      {
        ALT: () => {
          const name = this.CONSUME(HashId);
          this.CONSUME(Equals);
          return this.OR2([
            { ALT: () => { const l = this.SUBRULE(this.locSuffix); return this.ACTION(() => ({ kind: 'loc' as const, name: name.image, loc: l, pos: this.pos(name) })); } },
            { ALT: () => { const v = this.SUBRULE(this.attribute, { ARGS: [true] }); return this.ACTION(() => ({ kind: 'attr' as const, name: name.image, value: v, pos: this.pos(name) })); } },
          ])!;
        },
      },
      {
        ALT: () => {
          const name = this.CONSUME(BangId);
          this.CONSUME2(Equals);
          const t = this.SUBRULE(this.type);
          return this.ACTION(() => ({ kind: 'type' as const, name: name.image, type: t, pos: this.pos(name) }))!;
        },
      },
    ]);
  });

  moduleOp = this.RULE('moduleOp', (): ModuleAst => {
    const kw = this.CONSUME(ModuleKw);
    const name = this.OPTION(() => this.CONSUME(SymbolRef));
    let attrs: NamedAttr[] = [];
    this.OPTION2(() => {
      this.CONSUME(AttributesKw);
      attrs = this.SUBRULE(this.attrDict);
    });
    this.CONSUME(LBrace);
    const body: ModuleItem[] = [];
    this.MANY(() => {
      this.OR([
        { ALT: () => { const m = this.SUBRULE(this.moduleOp); this.ACTION(() => body.push(m)); } },
        { ALT: () => { const f = this.SUBRULE(this.funcOp); this.ACTION(() => body.push(f)); } },
        { ALT: () => { const o = this.SUBRULE(this.operation); this.ACTION(() => body.push(o)); } },
      ]);
    });
    this.CONSUME(RBrace);
    const loc = this.OPTION3(() => this.SUBRULE(this.locSuffix));
    return this.ACTION(() => ({
      kind: 'module' as const, name: name ? symbolName(name.image) : null, attributes: attrs, body, loc: loc ?? null,
      implicit: false, aliasesBefore: [], aliasesAfter: [], filename: this.filename, pos: this.pos(kw),
    }))!;
  });

  funcOp = this.RULE('funcOp', (): FuncAst => {
    const kw = this.CONSUME(FuncFunc);
    const vis = this.OPTION(() => this.CONSUME(PlainId));
    const name = this.CONSUME(SymbolRef);
    this.CONSUME(LParen);
    const args: BlockArg[] = [];
    this.MANY_SEP({ SEP: Comma, DEF: () => { const a = this.SUBRULE(this.funcArg); this.ACTION(() => args.push(a)); } });
    this.CONSUME(RParen);
    const results: FuncResult[] = [];
    let paren = false;
    this.OPTION2(() => {
      this.CONSUME(Arrow);
      this.OR({ IGNORE_AMBIGUITIES: true, DEF: [
        {
          ALT: () => {
            this.CONSUME2(LParen);
            paren = true;
            this.MANY_SEP2({ SEP: Comma, DEF: () => { const r = this.SUBRULE(this.funcResult); this.ACTION(() => results.push(r)); } });
            this.CONSUME2(RParen);
          },
        },
        { ALT: () => { const t = this.SUBRULE(this.type); this.ACTION(() => results.push({ type: t, attrs: [], loc: null })); } },
      ] });
    });
    let attrs: NamedAttr[] = [];
    this.OPTION3(() => {
      this.CONSUME(AttributesKw);
      attrs = this.SUBRULE(this.attrDict);
    });
    const body = this.OPTION4(() => this.SUBRULE(this.region));
    const loc = this.OPTION5(() => this.SUBRULE(this.locSuffix));
    return this.ACTION(() => {
      if (vis && !['public', 'private', 'nested'].includes(vis.image)) this.fail(`unknown visibility '${vis.image}' (public, private or nested)`, this.pos(vis));
      return {
        kind: 'func' as const, name: symbolName(name.image), visibility: vis?.image ?? null, args, results, parenResults: paren,
        attributes: attrs, body: body ?? null, loc: loc ?? null, pos: this.pos(kw),
      };
    })!;
  });

  funcArg = this.RULE('funcArg', (): BlockArg => {
    return this.OR([
      {
        ALT: () => {
          const name = this.CONSUME(ValueId);
          this.CONSUME(Colon);
          const t = this.SUBRULE(this.type);
          let attrs: NamedAttr[] = [];
          this.OPTION(() => { attrs = this.SUBRULE(this.attrDict); });
          const loc = this.OPTION2(() => this.SUBRULE(this.locSuffix));
          return this.ACTION(() => ({ name: name.image, type: t, attrs, loc: loc ?? null, pos: this.pos(name) }))!;
        },
      },
      {
        // A declaration lists types only.
        ALT: () => {
          const first = this.LA(1);
          const t = this.SUBRULE2(this.type);
          let attrs: NamedAttr[] = [];
          this.OPTION3(() => { attrs = this.SUBRULE2(this.attrDict); });
          const loc = this.OPTION4(() => this.SUBRULE2(this.locSuffix));
          return this.ACTION(() => ({ name: '', type: t, attrs, loc: loc ?? null, pos: this.pos(first) }))!;
        },
      },
    ]);
  });

  funcResult = this.RULE('funcResult', (): FuncResult => {
    const t = this.SUBRULE(this.type);
    let attrs: NamedAttr[] = [];
    this.OPTION(() => { attrs = this.SUBRULE(this.attrDict); });
    const loc = this.OPTION2(() => this.SUBRULE(this.locSuffix));
    return this.ACTION(() => ({ type: t, attrs, loc: loc ?? null }))!;
  });

  // ------------------------------------------------------------------------------ regions, ops

  region = this.RULE('region', (): RegionAst => {
    const lb = this.CONSUME(LBrace);
    const entryOps: OpAst[] = [];
    const blocks: BlockAst[] = [];
    this.MANY(() => { const o = this.SUBRULE(this.operation); this.ACTION(() => entryOps.push(o)); });
    this.MANY2(() => { const b = this.SUBRULE(this.labeledBlock); this.ACTION(() => blocks.push(b)); });
    this.CONSUME(RBrace);
    return this.ACTION(() => {
      if (entryOps.length || !blocks.length) blocks.unshift({ label: null, args: [], ops: entryOps, pos: this.pos(lb) });
      return { blocks, pos: this.pos(lb) };
    })!;
  });

  labeledBlock = this.RULE('labeledBlock', (): BlockAst => {
    const lbl = this.CONSUME(CaretId);
    const args: BlockArg[] = [];
    this.OPTION(() => {
      this.CONSUME(LParen);
      this.MANY_SEP({ SEP: Comma, DEF: () => { const a = this.SUBRULE(this.blockArg); this.ACTION(() => args.push(a)); } });
      this.CONSUME(RParen);
    });
    this.CONSUME(Colon);
    const ops: OpAst[] = [];
    this.MANY(() => { const o = this.SUBRULE(this.operation); this.ACTION(() => ops.push(o)); });
    return this.ACTION(() => ({ label: lbl.image, args, ops, pos: this.pos(lbl) }))!;
  });

  blockArg = this.RULE('blockArg', (): BlockArg => {
    const name = this.CONSUME(ValueId);
    this.CONSUME(Colon);
    const t = this.SUBRULE(this.type);
    const loc = this.OPTION(() => this.SUBRULE(this.locSuffix));
    return this.ACTION(() => ({ name: name.image, type: t, attrs: [], loc: loc ?? null, pos: this.pos(name) }))!;
  });

  operation = this.RULE('operation', (): OpAst => {
    const first = this.LA(1);
    const results: ResultGroup[] = [];
    this.OPTION(() => {
      this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => { const r = this.SUBRULE(this.resultGroup); this.ACTION(() => results.push(r)); } });
      this.CONSUME(Equals);
    });
    let generic: OpAst | undefined;
    let pretty: RawPretty | undefined;
    this.OR([
      { ALT: () => { generic = this.SUBRULE(this.genericOp); } },
      { ALT: () => { pretty = this.SUBRULE(this.prettyOp); } },
    ]);
    const loc = this.OPTION2(() => this.SUBRULE(this.locSuffix));
    return this.ACTION(() => {
      const op: OpAst = generic ?? {
        kind: 'op', name: pretty!.name, results: [], operands: [], properties: [], attributes: [], regions: [], successors: [],
        operandTypes: null, resultTypes: null, loc: null, syntax: 'pretty', applies: null, custom: null, pos: pretty!.namePos,
      };
      op.results = results;
      op.loc = loc ?? null;
      op.pos = this.pos(first);
      if (pretty) {
        interpretPretty(op, {
          pieces: pretty.pieces, signature: pretty.signature, trailers: pretty.trailers, namePos: pretty.namePos, tight: pretty.tight,
          header: this.text.slice(pretty.headerStart, pretty.headerEnd).trim(),
          trailer: this.text.slice(pretty.trailerStart, pretty.trailerEnd).trim(),
        }, (msg, p) => this.fail(msg, p));
      }
      return op;
    })!;
  });

  resultGroup = this.RULE('resultGroup', (): ResultGroup => {
    const name = this.CONSUME(ValueId);
    let count = 1;
    this.OPTION(() => {
      this.CONSUME(Colon);
      const n = this.CONSUME(IntLit);
      this.ACTION(() => { count = Number(n.image); if (count < 1) this.fail('a result group needs a count of at least 1', this.pos(n)); });
    });
    return this.ACTION(() => ({ name: name.image, count, pos: this.pos(name) }))!;
  });

  genericOp = this.RULE('genericOp', (): OpAst => {
    const name = this.CONSUME(StringLit);
    this.CONSUME(LParen);
    const operands: ValueUse[] = [];
    this.MANY_SEP({ SEP: Comma, DEF: () => { const v = this.SUBRULE(this.valueUse); this.ACTION(() => operands.push(v)); } });
    this.CONSUME(RParen);
    const successors: string[] = [];
    this.OPTION(() => {
      this.CONSUME(LBracket);
      this.MANY_SEP2({ SEP: Comma, DEF: () => { const s = this.CONSUME(CaretId); this.ACTION(() => successors.push(s.image)); } });
      this.CONSUME(RBracket);
    });
    let props: NamedAttr[] = [];
    this.OPTION2(() => {
      this.CONSUME(LAngle);
      props = this.SUBRULE(this.attrDict);
      this.CONSUME(RAngle);
    });
    const regions: RegionAst[] = [];
    this.OPTION3(() => {
      this.CONSUME2(LParen);
      this.MANY_SEP3({ SEP: Comma, DEF: () => { const r = this.SUBRULE(this.region); this.ACTION(() => regions.push(r)); } });
      this.CONSUME2(RParen);
    });
    let attrs: NamedAttr[] = [];
    this.OPTION4(() => { attrs = this.SUBRULE2(this.attrDict); });
    this.CONSUME(Colon);
    const colon = this.LA(1);
    const ft = this.SUBRULE(this.type);
    return this.ACTION(() => {
      if (ft.kind !== 'function') this.fail(`a generic op needs a function type '(operands) -> results', found ${ft.kind} type`, this.pos(colon));
      return {
        kind: 'op' as const, name: decodeString(name.image.slice(1, -1)), results: [], operands, properties: props, attributes: attrs,
        regions, successors, operandTypes: ft.inputs, resultTypes: ft.results, loc: null, syntax: 'generic' as const,
        applies: null, custom: null, pos: this.pos(name),
      };
    })!;
  });

  prettyOp = this.RULE('prettyOp', (): RawPretty => {
    const nameTok = this.OR([
      { ALT: () => this.CONSUME(DottedId) },
      { ALT: () => this.CONSUME(ReturnKw) },
      { ALT: () => this.CONSUME(CallKw) },
    ]);
    const headerStart = this.LA(1).startOffset;
    let headerEnd = headerStart;
    const pieces: Piece[] = [];
    this.MANY({
      GATE: () => !this.resultDefAhead() && !this.nextOpNameAhead(),
      DEF: () => {
        const p = this.SUBRULE(this.piece);
        this.ACTION(() => { pieces.push(p); headerEnd = this.LA(0).endOffset! + 1; });
      },
    });
    let signature: SignatureAst | null = null;
    const trailers: Trailer[] = [];
    let trailerStart = 0;
    let trailerEnd = 0;
    this.OPTION(() => {
      this.CONSUME(Colon);
      signature = this.SUBRULE(this.signature);
      this.ACTION(() => { trailerStart = trailerEnd = this.LA(1).startOffset; });
      this.MANY2(() => {
        const t = this.SUBRULE(this.trailer);
        this.ACTION(() => { trailers.push(t); trailerEnd = this.LA(0).endOffset! + 1; });
      });
    });
    return this.ACTION(() => ({
      name: nameTok.image, namePos: this.pos(nameTok), tight: headerStart === nameTok.endOffset! + 1, pieces, signature, trailers, headerStart, headerEnd, trailerStart, trailerEnd,
    }))!;
  });

  piece = this.RULE('piece', (): Piece => {
    const t = this.LA(1);
    const at = (): Pos => this.pos(t);
    return this.OR({ IGNORE_AMBIGUITIES: true, DEF: [
      { ALT: () => { const v = this.SUBRULE(this.valueUse); return this.ACTION(() => ({ k: 'value' as const, use: v, pos: at() })); } },
      { ALT: () => { this.CONSUME(Comma); return this.ACTION(() => ({ k: 'comma' as const, pos: at() })); } },
      { ALT: () => { this.CONSUME(Equals); return this.ACTION(() => ({ k: 'equals' as const, pos: at() })); } },
      { ALT: () => this.SUBRULE(this.kwPiece) },
      { ALT: () => { const id = this.CONSUME(PlainId); return this.ACTION(() => ({ k: 'ident' as const, name: id.image, pos: at() })); } },
      {
        ALT: () => {
          this.CONSUME(AppliesKw);
          const op = this.OR2([{ ALT: () => this.CONSUME(DottedId) }, { ALT: () => this.CONSUME2(PlainId) }]);
          return this.ACTION(() => ({ k: 'applies' as const, op: op.image, pos: at() }));
        },
      },
      { ALT: () => { const s = this.SUBRULE(this.symbolPath); return this.ACTION(() => ({ k: 'symbol' as const, path: s, pos: at() })); } },
      { ALT: () => { const items = this.SUBRULE(this.parenGroup); return this.ACTION(() => ({ k: 'paren' as const, items, pos: at() })); } },
      { ALT: () => { const items = this.SUBRULE(this.sliceGroup); return this.ACTION(() => ({ k: 'bracket' as const, items, pos: at() })); } },
      {
        GATE: () => this.attrDictAhead(),
        ALT: () => { const e = this.SUBRULE(this.attrDict); return this.ACTION(() => ({ k: 'attrdict' as const, entries: e, pos: at() })); },
      },
      { ALT: () => { const r = this.SUBRULE(this.region); return this.ACTION(() => ({ k: 'region' as const, region: r, pos: at() })); } },
      {
        GATE: () => this.LA(1).tokenType !== StringLit || this.LA(2).tokenType !== LParen,
        ALT: () => { const v = this.SUBRULE(this.literalAttr, { ARGS: [false] }); return this.ACTION(() => ({ k: 'attr' as const, value: v, pos: at() })); },
      },
    ] })!;
  });

  kwPiece = this.RULE('kwPiece', (): Piece => {
    const name = this.CONSUME(AnyIdent);
    this.CONSUME(Equals);
    const values: AttrAst[] = [];
    let arrow: AttrAst | null = null;
    const v = this.SUBRULE(this.attribute, { ARGS: [false] });
    this.ACTION(() => values.push(v));
    this.MANY({
      GATE: () => this.LA(1).image === 'x' && this.LA(1).tokenType === PlainId,
      DEF: () => {
        this.CONSUME(PlainId);
        const w = this.SUBRULE2(this.attribute, { ARGS: [false] });
        this.ACTION(() => values.push(w));
      },
    });
    this.OPTION(() => {
      this.CONSUME(Arrow);
      arrow = this.SUBRULE3(this.attribute, { ARGS: [false] });
    });
    return this.ACTION(() => ({ k: 'kw' as const, name: name.image, values, arrow, pos: this.pos(name) }))!;
  });

  parenGroup = this.RULE('parenGroup', (): ParenItem[] => {
    const items: ParenItem[] = [];
    this.CONSUME(LParen);
    this.MANY_SEP({
      SEP: Comma,
      DEF: () => {
        this.OR2([
          {
            ALT: () => {
              const name = this.CONSUME(AnyIdent);
              this.CONSUME2(Equals);
              const v = this.SUBRULE(this.attribute, { ARGS: [false] });
              this.ACTION(() => items.push({ value: null, kw: { name: name.image, value: v }, bound: null, boundKind: null, type: null, loc: null }));
            },
          },
          {
            ALT: () => {
              const value = this.SUBRULE(this.valueUse);
              let bound: ValueUse | null = null;
              let boundKind: '=' | 'init' | null = null;
              let type: TypeAst | null = null;
              let loc: LocAst | null = null;
              this.OPTION(() => {
                this.OR([
                  { ALT: () => { this.CONSUME(Equals); bound = this.SUBRULE2(this.valueUse); boundKind = '='; } },
                  {
                    ALT: () => {
                      const kw = this.CONSUME(PlainId);
                      this.CONSUME(Colon);
                      bound = this.SUBRULE3(this.valueUse);
                      boundKind = 'init';
                      this.ACTION(() => { if (kw.image !== 'init') this.fail(`expected 'init:' but found '${kw.image}'`, this.pos(kw)); });
                    },
                  },
                  {
                    ALT: () => {
                      this.CONSUME2(Colon);
                      type = this.SUBRULE(this.type);
                      this.OPTION2(() => { loc = this.SUBRULE(this.locSuffix); });
                    },
                  },
                ]);
              });
              this.ACTION(() => items.push({ value, kw: null, bound, boundKind, type, loc }));
            },
          },
        ]);
      },
    });
    this.CONSUME(RParen);
    return items;
  });

  sliceGroup = this.RULE('sliceGroup', (): SliceItem[] => {
    const items: SliceItem[] = [];
    this.CONSUME(LBracket);
    this.MANY_SEP({
      SEP: Comma,
      DEF: () => {
        const item: number[] = [];
        const a = this.SUBRULE(this.signedInt);
        this.ACTION(() => item.push(a));
        this.MANY(() => {
          this.CONSUME(Colon);
          const b = this.SUBRULE2(this.signedInt);
          this.ACTION(() => item.push(b));
        });
        this.ACTION(() => items.push(item));
      },
    });
    this.CONSUME(RBracket);
    return items;
  });

  signedInt = this.RULE('signedInt', (): number => {
    const neg = this.OPTION(() => this.CONSUME(Minus));
    const n = this.CONSUME(IntLit);
    return this.ACTION(() => (neg ? -1 : 1) * Number(n.image))!;
  });

  valueUse = this.RULE('valueUse', (): ValueUse => {
    const name = this.CONSUME(ValueId);
    const idx = this.OPTION(() => this.CONSUME(ResultNum));
    return this.ACTION(() => ({ name: name.image, index: idx ? Number(idx.image.slice(1)) : null, pos: this.pos(name) }))!;
  });

  symbolPath = this.RULE('symbolPath', (): string[] => {
    const path: string[] = [];
    const s = this.CONSUME(SymbolRef);
    this.ACTION(() => path.push(symbolName(s.image)));
    this.MANY(() => {
      this.CONSUME(ColonColon);
      const t = this.CONSUME2(SymbolRef);
      this.ACTION(() => path.push(symbolName(t.image)));
    });
    return path;
  });

  signature = this.RULE('signature', (): SignatureAst => {
    return this.OR({ IGNORE_AMBIGUITIES: true, DEF: [
      {
        ALT: () => {
          const inputs = this.SUBRULE(this.parenTypes);
          this.CONSUME(Arrow);
          const results = this.SUBRULE(this.resultTypes);
          return this.ACTION(() => ({ kind: 'function' as const, inputs, results: results.types, bare: false, parenResults: results.paren }))!;
        },
      },
      {
        ALT: () => {
          // `T -> R` (chlo style), `T, T -> R` (CHLO's binary ops in their generic-type form: `chlo.next_after %a, %b :
          // T, T -> T`), or a plain list `T, T`.
          const types: TypeAst[] = [];
          const first = this.SUBRULE(this.type);
          this.ACTION(() => types.push(first));
          this.MANY(() => {
            this.CONSUME(Comma);
            const t = this.SUBRULE2(this.type);
            this.ACTION(() => types.push(t));
          });
          const results = this.OPTION(() => {
            this.CONSUME2(Arrow);
            return this.SUBRULE2(this.resultTypes);
          });
          return this.ACTION(() => (results
            ? { kind: 'function' as const, inputs: types, results: results.types, bare: true, parenResults: results.paren }
            : { kind: 'list' as const, types }))!;
        },
      },
    ] });
  });

  parenTypes = this.RULE('parenTypes', (): TypeAst[] => {
    const types: TypeAst[] = [];
    this.CONSUME(LParen);
    this.MANY_SEP({ SEP: Comma, DEF: () => { const t = this.SUBRULE(this.type); this.ACTION(() => types.push(t)); } });
    this.CONSUME(RParen);
    return types;
  });

  resultTypes = this.RULE('resultTypes', (): { types: TypeAst[]; paren: boolean } => {
    return this.OR({ IGNORE_AMBIGUITIES: true, DEF: [
      { ALT: () => { const ts = this.SUBRULE(this.parenTypes); return { types: ts, paren: true }; } },
      { ALT: () => { const t = this.SUBRULE(this.type); return this.ACTION(() => ({ types: [t], paren: false }))!; } },
    ] });
  });

  trailer = this.RULE('trailer', (): Trailer => {
    const t = this.LA(1);
    return this.OR([
      {
        ALT: () => {
          this.CONSUME(ReducerKw);
          const groups: ParenItem[][] = [];
          this.AT_LEAST_ONE(() => { const g = this.SUBRULE(this.parenGroup); this.ACTION(() => groups.push(g)); });
          const region = this.SUBRULE(this.region);
          return this.ACTION(() => ({ k: 'reducer' as const, groups, region, pos: this.pos(t) }))!;
        },
      },
      {
        ALT: () => {
          this.CONSUME(CondKw);
          const cond = this.SUBRULE2(this.region);
          this.CONSUME(DoKw);
          const body = this.SUBRULE3(this.region);
          return this.ACTION(() => ({ k: 'while' as const, cond, body, pos: this.pos(t) }))!;
        },
      },
    ]);
  });

  // ------------------------------------------------------------------------------- attributes

  attrDict = this.RULE('attrDict', (): NamedAttr[] => {
    const entries: NamedAttr[] = [];
    this.CONSUME(LBrace);
    this.MANY_SEP({
      SEP: Comma,
      DEF: () => {
        const name = this.OR([{ ALT: () => this.CONSUME(AnyIdent) }, { ALT: () => this.CONSUME(StringLit) }]);
        let value: AttrAst = { kind: 'unit' };
        this.OPTION(() => {
          this.CONSUME(Equals);
          value = this.SUBRULE(this.attribute, { ARGS: [true] });
        });
        this.ACTION(() => {
          const quoted = name.tokenType === StringLit;
          entries.push({ name: quoted ? decodeString(name.image.slice(1, -1)) : name.image, quoted, value, pos: this.pos(name) });
        });
      },
    });
    this.CONSUME(RBrace);
    return entries;
  });

  attribute = this.RULE('attribute', (allowType: boolean): AttrAst => {
    return this.OR([
      { ALT: () => this.SUBRULE(this.literalAttr, { ARGS: [allowType] }) },
      {
        ALT: () => {
          const elements: AttrAst[] = [];
          this.CONSUME(LBracket);
          this.MANY_SEP({ SEP: Comma, DEF: () => { const e = this.SUBRULE(this.attribute, { ARGS: [true] }); this.ACTION(() => elements.push(e)); } });
          this.CONSUME(RBracket);
          return { kind: 'array' as const, elements };
        },
      },
      { ALT: () => { const entries = this.SUBRULE(this.attrDict); return { kind: 'dict' as const, entries }; } },
      { ALT: () => { const path = this.SUBRULE(this.symbolPath); return { kind: 'symbol' as const, path }; } },
      {
        ALT: () => {
          const id = this.CONSUME(PlainId);
          return this.ACTION((): AttrAst => (isScalarTypeName(id.image) ? { kind: 'type', type: { kind: 'scalar', name: id.image } } : { kind: 'ident', name: id.image }))!;
        },
      },
    ]);
  });

  /** The attributes that custom syntax can hold as one piece (no `[...]`, `{...}`, `@sym`, bare words). */
  literalAttr = this.RULE('literalAttr', (allowType: boolean): AttrAst => {
    return this.OR([
      {
        ALT: () => {
          const neg = this.OPTION2(() => this.CONSUME(Minus));
          const n = this.OR2([{ ALT: () => this.CONSUME(IntLit) }, { ALT: () => this.CONSUME(HexLit) }, { ALT: () => this.CONSUME(FloatLit) }]);
          const type = this.SUBRULE(this.optType, { ARGS: [allowType] });
          return this.ACTION((): AttrAst => {
            const text = (neg ? '-' : '') + n.image;
            if (n.tokenType === FloatLit || (n.tokenType === HexLit && type?.kind === 'scalar' && /^(f|bf|tf)\d/.test(type.name))) return { kind: 'float', text, type };
            return { kind: 'int', value: BigInt(text.replace(/^-0x/, '-0x')), type };
          })!;
        },
      },
      { ALT: () => { this.CONSUME(TrueKw); return { kind: 'bool' as const, value: true }; } },
      { ALT: () => { this.CONSUME(FalseKw); return { kind: 'bool' as const, value: false }; } },
      { ALT: () => { this.CONSUME(UnitKw); return { kind: 'unit' as const }; } },
      {
        ALT: () => {
          const s = this.CONSUME(StringLit);
          const type = this.SUBRULE2(this.optType, { ARGS: [allowType] });
          return this.ACTION(() => ({ kind: 'string' as const, value: s.image.slice(1, -1), type }))!;
        },
      },
      {
        ALT: () => {
          this.CONSUME(DenseKw);
          this.CONSUME(LAngle);
          let value: DenseLiteral = { kind: 'list', items: [] };
          this.OPTION3(() => { value = this.SUBRULE(this.denseLiteral); });
          this.CONSUME(RAngle);
          const type = this.SUBRULE3(this.optType, { ARGS: [allowType] });
          return this.ACTION(() => ({ kind: 'dense' as const, value, type }))!;
        },
      },
      {
        ALT: () => {
          this.CONSUME(ArrayKw);
          this.CONSUME2(LAngle);
          const elementType = this.SUBRULE(this.type);
          const values: string[] = [];
          this.OPTION4(() => {
            this.CONSUME2(Colon);
            this.MANY_SEP({
              SEP: Comma,
              DEF: () => {
                const neg = this.OPTION5(() => this.CONSUME2(Minus));
                const v = this.OR3([
                  { ALT: () => this.CONSUME2(IntLit) }, { ALT: () => this.CONSUME2(FloatLit) }, { ALT: () => this.CONSUME2(HexLit) },
                  { ALT: () => this.CONSUME2(TrueKw) }, { ALT: () => this.CONSUME2(FalseKw) },
                ]);
                this.ACTION(() => values.push((neg ? '-' : '') + v.image));
              },
            });
          });
          this.CONSUME2(RAngle);
          return this.ACTION(() => ({ kind: 'dense_array' as const, elementType, values }))!;
        },
      },
      {
        ALT: () => {
          const h = this.CONSUME(HashId);
          let body: { tokens: IToken[]; text: string } | null = null;
          this.OPTION6(() => { body = this.SUBRULE(this.angleBody); });
          return this.ACTION((): AttrAst => {
            if (!body) return { kind: 'alias', name: h.image };
            return dialectAttr(h.image.slice(1), body.tokens, body.text, this.pos(h), (msg, p) => this.fail(msg, p ?? this.pos(h)), (t) => this.pos(t));
          })!;
        },
      },
      { ALT: () => { const b = this.SUBRULE2(this.angleBody); return this.ACTION(() => ({ kind: 'angle' as const, body: b.text }))!; } },
      { ALT: () => { const t = this.SUBRULE(this.nonScalarType); return this.ACTION(() => ({ kind: 'type' as const, type: t }))!; } },
    ]);
  });

  /** `: type` after a literal, where the context allows it (not inside custom op syntax). */
  optType = this.RULE('optType', (allowType: boolean): TypeAst | null => {
    let t: TypeAst | null = null;
    this.OPTION({ GATE: () => allowType, DEF: () => { this.CONSUME(Colon); t = this.SUBRULE(this.type); } });
    return t;
  });

  /** `<...>` with balanced brackets inside, kept as its tokens and its source text. */
  angleBody = this.RULE('angleBody', (): { tokens: IToken[]; text: string } => {
    const open = this.CONSUME(LAngle);
    const tokens = this.SUBRULE(this.balanced);
    const close = this.CONSUME(RAngle);
    return this.ACTION(() => ({ tokens, text: this.text.slice(open.endOffset! + 1, close.startOffset).trim() }))!;
  });

  balanced = this.RULE('balanced', (): IToken[] => {
    const out: IToken[] = [];
    const nested = (open: TokenType, close: TokenType, idx: number): void => {
      const a = this.consume(idx, open);
      const inner = this.subrule(idx, this.balanced);
      const b = this.consume(idx, close);
      this.ACTION(() => out.push(a, ...inner, b));
    };
    this.MANY(() => {
      this.OR([
        { ALT: () => { const t = this.CONSUME(Atom); this.ACTION(() => out.push(t)); } },
        { ALT: () => { const t = this.CONSUME(TensorStart); const inner = this.SUBRULE(this.balanced); const c = this.CONSUME(RAngle); this.ACTION(() => out.push(t, ...inner, c)); } },
        { ALT: () => { const t = this.CONSUME(DimX); this.ACTION(() => out.push(t)); } },
        { ALT: () => nested(LParen, RParen, 1) },
        { ALT: () => nested(LBracket, RBracket, 2) },
        { ALT: () => nested(LBrace, RBrace, 3) },
        { ALT: () => nested(LAngle, RAngle, 4) },
      ]);
    });
    return out;
  });

  denseLiteral = this.RULE('denseLiteral', (): DenseLiteral => {
    return this.OR([
      { ALT: () => { const s = this.CONSUME(StringLit); return this.ACTION(() => ({ kind: 'hex' as const, text: s.image.slice(1, -1) }))!; } },
      { ALT: () => this.SUBRULE(this.denseElement) },
    ]);
  });

  denseElement = this.RULE('denseElement', (): DenseLiteral => {
    return this.OR([
      {
        ALT: () => {
          const items: DenseLiteral[] = [];
          this.CONSUME(LBracket);
          this.MANY_SEP({ SEP: Comma, DEF: () => { const e = this.SUBRULE(this.denseElement); this.ACTION(() => items.push(e)); } });
          this.CONSUME(RBracket);
          return { kind: 'list' as const, items };
        },
      },
      {
        ALT: () => {
          this.CONSUME(LParen);
          const re = this.SUBRULE(this.denseScalar);
          this.CONSUME(Comma);
          const im = this.SUBRULE2(this.denseScalar);
          this.CONSUME(RParen);
          return this.ACTION(() => ({ kind: 'complex' as const, re, im }))!;
        },
      },
      { ALT: () => { const s = this.SUBRULE3(this.denseScalar); return this.ACTION(() => ({ kind: 'scalar' as const, text: s }))!; } },
    ]);
  });

  denseScalar = this.RULE('denseScalar', (): string => {
    const neg = this.OPTION(() => this.OR([{ ALT: () => this.CONSUME(Minus) }, { ALT: () => this.CONSUME(Plus) }]));
    const v = this.OR2([
      { ALT: () => this.CONSUME(IntLit) }, { ALT: () => this.CONSUME(FloatLit) }, { ALT: () => this.CONSUME(HexLit) },
      { ALT: () => this.CONSUME(TrueKw) }, { ALT: () => this.CONSUME(FalseKw) }, { ALT: () => this.CONSUME(PlainId) },
    ]);
    return this.ACTION(() => {
      if (v.tokenType === PlainId && !['inf', 'nan'].includes(v.image)) this.fail(`unexpected '${v.image}' in a dense literal`, this.pos(v));
      return (neg?.image === '-' ? '-' : '') + v.image;
    })!;
  });

  // ------------------------------------------------------------------------------------ types

  type = this.RULE('type', (): TypeAst => {
    return this.OR([
      { ALT: () => this.SUBRULE(this.nonScalarType) },
      {
        ALT: () => {
          const id = this.CONSUME(PlainId);
          return this.ACTION((): TypeAst => {
            if (!isScalarTypeName(id.image)) this.fail(`unknown type '${id.image}'`, this.pos(id));
            return { kind: 'scalar', name: id.image };
          })!;
        },
      },
      {
        ALT: () => {
          const inputs = this.SUBRULE(this.parenTypes);
          this.CONSUME(Arrow);
          const r = this.SUBRULE(this.resultTypes);
          return this.ACTION(() => ({ kind: 'function' as const, inputs, results: r.types }))!;
        },
      },
    ]);
  });

  nonScalarType = this.RULE('nonScalarType', (): TypeAst => {
    return this.OR([
      {
        ALT: () => {
          const start = this.CONSUME(TensorStart);
          const dims: string[] = [];
          this.MANY(() => { const d = this.CONSUME(DimX); this.ACTION(() => dims.push(d.image.slice(0, -1))); });
          const element = this.SUBRULE(this.type);
          let encoding: AttrAst | null = null;
          this.OPTION(() => {
            this.CONSUME(Comma);
            encoding = this.SUBRULE(this.attribute, { ARGS: [true] });
          });
          this.CONSUME(RAngle);
          return this.ACTION((): TypeAst => {
            if (element.kind === 'tensor' || element.kind === 'function' || element.kind === 'tuple') this.fail(`a tensor cannot hold ${element.kind} elements`, this.pos(start));
            if (dims.includes('*')) {
              if (dims.length !== 1) this.fail(`an unranked tensor is written tensor<*xT>`, this.pos(start));
              return { kind: 'tensor', shape: null, element, encoding };
            }
            return { kind: 'tensor', shape: dims.map((d) => (d === '?' ? null : Number(d))), element, encoding };
          })!;
        },
      },
      {
        ALT: () => {
          this.CONSUME(TupleKw);
          this.CONSUME(LAngle);
          const types: TypeAst[] = [];
          this.MANY_SEP({ SEP: Comma, DEF: () => { const t = this.SUBRULE2(this.type); this.ACTION(() => types.push(t)); } });
          this.CONSUME2(RAngle);
          return { kind: 'tuple' as const, types };
        },
      },
      {
        ALT: () => {
          this.CONSUME(ComplexKw);
          this.CONSUME2(LAngle);
          const element = this.SUBRULE3(this.type);
          this.CONSUME3(RAngle);
          return this.ACTION(() => ({ kind: 'complex' as const, element }))!;
        },
      },
      {
        ALT: () => {
          const name = this.CONSUME(BangId);
          let body: string | null = null;
          this.OPTION2(() => { body = this.SUBRULE(this.angleBody).text; });
          return this.ACTION(() => ({ kind: 'dialect' as const, name: name.image.slice(1), body }))!;
        },
      },
    ]);
  });

  // -------------------------------------------------------------------------------- locations

  locSuffix = this.RULE('locSuffix', (): LocAst => {
    this.CONSUME(LocKw);
    this.CONSUME(LParen);
    const l = this.SUBRULE(this.location);
    this.CONSUME(RParen);
    return l;
  });

  location = this.RULE('location', (): LocAst => {
    const word = (tok: IToken, expect: string): void => {
      this.ACTION(() => { if (tok.image !== expect) this.fail(`expected '${expect}' but found '${tok.image}'`, this.pos(tok)); });
    };
    return this.OR([
      { ALT: () => { const h = this.CONSUME(HashId); return this.ACTION(() => ({ kind: 'alias' as const, name: h.image }))!; } },
      {
        ALT: () => {
          const w = this.CONSUME(PlainId);
          return this.OR2([
            {
              ALT: () => {
                this.CONSUME(LParen);
                const callee = this.SUBRULE(this.location);
                const at = this.CONSUME2(PlainId);
                const caller = this.SUBRULE2(this.location);
                this.CONSUME(RParen);
                word(w, 'callsite');
                word(at, 'at');
                return this.ACTION(() => ({ kind: 'callsite' as const, callee, caller }))!;
              },
            },
            {
              ALT: () => {
                let metadata: AttrAst | null = null;
                this.OPTION(() => {
                  this.CONSUME(LAngle);
                  metadata = this.SUBRULE(this.attribute, { ARGS: [true] });
                  this.CONSUME(RAngle);
                });
                const locs: LocAst[] = [];
                this.CONSUME(LBracket);
                this.MANY_SEP({ SEP: Comma, DEF: () => { const l = this.SUBRULE3(this.location); this.ACTION(() => locs.push(l)); } });
                this.CONSUME(RBracket);
                word(w, 'fused');
                return this.ACTION(() => ({ kind: 'fused' as const, metadata, locs }))!;
              },
            },
            { ALT: () => { word(w, 'unknown'); return { kind: 'unknown' as const }; } },
          ]);
        },
      },
      {
        ALT: () => {
          const s = this.CONSUME(StringLit);
          return this.OR3([
            {
              ALT: () => {
                this.CONSUME(Colon);
                const line = this.CONSUME(IntLit);
                this.CONSUME2(Colon);
                const col = this.CONSUME2(IntLit);
                let endLine: number | null = null;
                let endCol: number | null = null;
                this.OPTION2(() => {
                  const to = this.CONSUME3(PlainId);
                  word(to, 'to');
                  this.OPTION3(() => { const l = this.CONSUME3(IntLit); this.ACTION(() => { endLine = Number(l.image); }); });
                  this.CONSUME3(Colon);
                  const c = this.CONSUME4(IntLit);
                  this.ACTION(() => { endCol = Number(c.image); });
                });
                return this.ACTION(() => ({
                  kind: 'file' as const, file: s.image.slice(1, -1), line: Number(line.image), col: Number(col.image), endLine, endCol,
                }))!;
              },
            },
            {
              ALT: () => {
                this.CONSUME2(LParen);
                const child = this.SUBRULE4(this.location);
                this.CONSUME2(RParen);
                return this.ACTION(() => ({ kind: 'name' as const, name: s.image.slice(1, -1), child }))!;
              },
            },
            { ALT: () => this.ACTION(() => ({ kind: 'name' as const, name: s.image.slice(1, -1), child: null }))! },
          ]);
        },
      },
    ]);
  });
}

export function symbolName(image: string): string {
  const s = image.slice(1);
  return s.startsWith('"') ? decodeString(s.slice(1, -1)) : s;
}

/** Decodes the escapes of an MLIR string literal body (`\"`, `\\`, `\n`, `\t`, `\XX` hex). */
export function decodeString(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\(?:([0-9a-fA-F]{2})|(.))/g, (_, hex: string | undefined, c: string | undefined) => {
    if (hex) return String.fromCharCode(parseInt(hex, 16));
    return c === 'n' ? '\n' : c === 't' ? '\t' : (c ?? '');
  });
}

export function endPos(text: string): Pos {
  const lines = text.split('\n');
  return { line: lines.length, col: (lines[lines.length - 1]?.length ?? 0) + 1, offset: text.length };
}

// The chevrotain lexer for MLIR text: identifiers, SSA names, symbols, literals, punctuation.
import { createToken, Lexer, type IToken, type TokenType } from 'chevrotain';

/** Every token that is not a bracket: what an opaque `<...>` body may hold between brackets. */
export const Atom = createToken({ name: 'Atom', pattern: Lexer.NA });
/** Every identifier-like token (plain, dotted, keywords): what may name an attribute. */
export const AnyIdent = createToken({ name: 'AnyIdent', pattern: Lexer.NA, label: 'a name' });

const atom = (name: string, pattern: RegExp, extra: Partial<Parameters<typeof createToken>[0]> = {}): TokenType =>
  createToken({ name, pattern, categories: [Atom], ...extra });

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED, line_breaks: true });
export const Comment = createToken({ name: 'Comment', pattern: /\/\/[^\n]*/, group: Lexer.SKIPPED });

// `tensor<` opens a shape; inside it, `2x` / `?x` are dimension tokens (see DimX).
export const TensorStart = createToken({ name: 'TensorStart', pattern: /tensor</, label: "'tensor<'" });

/**
 * A dimension of a ranked shape, `4x` or `?x` (or `*x` for unranked): matched only right after
 * `tensor<` or another dimension, so that `0x7F` elsewhere stays a hex integer and `x` in
 * `[1] x [0]` stays an identifier.
 */
export const DimX = createToken({
  name: 'DimX',
  pattern: {
    exec: (text: string, offset: number, tokens: IToken[]): RegExpExecArray | null => {
      const prev = tokens[tokens.length - 1];
      if (!prev || (prev.tokenType !== TensorStart && prev.tokenType !== DimX)) return null;
      DIM_RE.lastIndex = offset;
      return DIM_RE.exec(text);
    },
  } as unknown as RegExp,
  line_breaks: false,
  start_chars_hint: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '?', '*'],
});
const DIM_RE = /(?:\d+|\?|\*)x/y;

// Identifiers. Dotted names (`stablehlo.add`, `mhlo.sharding`) are their own token so that a
// piece of custom syntax (`GT`, `across`) is never confused with the next op's name.
export const DottedId = atom('DottedId', /[a-zA-Z_][\w$]*(?:\.[\w$]+)+/, { categories: [Atom, AnyIdent], label: 'an op name' });
export const PlainId = atom('PlainId', /[a-zA-Z_][\w$]*/, { categories: [Atom, AnyIdent], label: 'an identifier' });
const keyword = (word: string, name: string): TokenType =>
  createToken({ name, pattern: new RegExp(word), longer_alt: PlainId, categories: [Atom, AnyIdent], label: `'${word}'` });
export const FuncFunc = createToken({ name: 'FuncFunc', pattern: /func\.func/, longer_alt: DottedId, categories: [Atom, AnyIdent], label: "'func.func'" });
export const ModuleKw = keyword('module', 'ModuleKw');
export const AttributesKw = keyword('attributes', 'AttributesKw');
export const LocKw = keyword('loc', 'LocKw');
export const DenseKw = keyword('dense', 'DenseKw');
export const ArrayKw = keyword('array', 'ArrayKw');
export const TupleKw = keyword('tuple', 'TupleKw');
export const ComplexKw = keyword('complex', 'ComplexKw');
export const TrueKw = keyword('true', 'TrueKw');
export const FalseKw = keyword('false', 'FalseKw');
export const UnitKw = keyword('unit', 'UnitKw');
export const ReducerKw = keyword('reducer', 'ReducerKw');
export const CondKw = keyword('cond', 'CondKw');
export const DoKw = keyword('do', 'DoKw');
export const AppliesKw = keyword('applies', 'AppliesKw');
export const ReturnKw = keyword('return', 'ReturnKw');
export const CallKw = keyword('call', 'CallKw');

export const ValueId = atom('ValueId', /%[\w$.\-]+/, { label: 'an SSA value' });
export const ResultNum = atom('ResultNum', /#\d+/, { label: 'a result number' });
export const HashId = atom('HashId', /#[a-zA-Z_][\w$.\-]*/, { label: 'an attribute alias' });
export const BangId = atom('BangId', /![a-zA-Z_][\w$.]*/, { label: 'a dialect type' });
export const SymbolRef = atom('SymbolRef', /@(?:[\w$.\-]+|"(?:[^"\\\n]|\\.)*")/, { label: 'a symbol' });
export const CaretId = atom('CaretId', /\^[\w$.\-]+/, { label: 'a block label' });
export const StringLit = atom('StringLit', /"(?:[^"\\\n]|\\.)*"/, { label: 'a string' });
export const FloatLit = atom('FloatLit', /\d+\.\d*(?:[eE][+-]?\d+)?/, { label: 'a float' });
export const HexLit = atom('HexLit', /0x[0-9a-fA-F]+/, { label: 'a hex integer' });
export const IntLit = atom('IntLit', /\d+/, { label: 'an integer' });

export const Arrow = atom('Arrow', /->/, { label: "'->'" });
export const ColonColon = atom('ColonColon', /::/, { label: "'::'" });
export const Colon = atom('Colon', /:/, { label: "':'" });
export const Comma = atom('Comma', /,/, { label: "','" });
export const Equals = atom('Equals', /=/, { label: "'='" });
export const Minus = atom('Minus', /-/, { label: "'-'" });
export const Plus = atom('Plus', /\+/, { label: "'+'" });
export const Question = atom('Question', /\?/, { label: "'?'" });
export const Star = atom('Star', /\*/, { label: "'*'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LBrace = createToken({ name: 'LBrace', pattern: /\{/, label: "'{'" });
export const RBrace = createToken({ name: 'RBrace', pattern: /\}/, label: "'}'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: "']'" });
export const LAngle = createToken({ name: 'LAngle', pattern: /</, label: "'<'" });
export const RAngle = createToken({ name: 'RAngle', pattern: />/, label: "'>'" });

export const allTokens: TokenType[] = [
  WhiteSpace, Comment, TensorStart, DimX,
  FuncFunc, DottedId,
  ModuleKw, AttributesKw, LocKw, DenseKw, ArrayKw, TupleKw, ComplexKw, TrueKw, FalseKw, UnitKw,
  ReducerKw, CondKw, DoKw, AppliesKw, ReturnKw, CallKw,
  PlainId,
  ValueId, ResultNum, HashId, BangId, SymbolRef, CaretId, StringLit,
  FloatLit, HexLit, IntLit,
  Arrow, ColonColon, Colon, Comma, Equals, Minus, Plus, Question, Star,
  LParen, RParen, LBrace, RBrace, LBracket, RBracket, LAngle, RAngle,
  Atom, AnyIdent,
];

export const mlirLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false, safeMode: false });

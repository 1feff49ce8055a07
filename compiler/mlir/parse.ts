// parseModule: text to AST, with every lexing or parsing problem as an MlirSyntaxError at line:column.
import type { ModuleAst } from './ast.ts';
import { MlirSyntaxError } from './errors.ts';
import { mlirLexer } from './lexer.ts';
import { endPos, MlirParser } from './parser.ts';

let parser: MlirParser | undefined;

export interface ParseOptions {
  filename?: string;
}

export function parseModule(text: string, opts: ParseOptions = {}): ModuleAst {
  const filename = opts.filename ?? '<input>';
  const lexed = mlirLexer.tokenize(text);
  const lexErr = lexed.errors[0];
  if (lexErr) {
    const ch = text.slice(lexErr.offset, lexErr.offset + 1);
    throw new MlirSyntaxError(`unexpected character '${ch}'`, filename, lexErr.line ?? 1, lexErr.column ?? 1);
  }
  parser ??= new MlirParser();
  parser.text = text;
  parser.filename = filename;
  parser.input = lexed.tokens;
  try {
    let m: ModuleAst;
    try {
      m = parser.file();
    } catch (e) {
      if (e instanceof RangeError) {
        // Too deep a nesting for the stack: a malformed file, not a crash.
        const p = endPos(text);
        throw new MlirSyntaxError('nesting too deep', filename, p.line, p.col);
      }
      throw e;
    }
    const err = parser.errors[0];
    if (err) {
      const p = parser.pos(err.token);
      throw new MlirSyntaxError(err.message, filename, p.line, p.col);
    }
    m.filename = filename;
    return m;
  } finally {
    parser.text = '';
    parser.input = [];
  }
}

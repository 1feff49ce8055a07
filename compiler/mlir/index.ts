// The MLIR reader: parse StableHLO text (as JAX and flip's emitter write it) into a typed AST,
// print it back, and verify it. `verifyModule(parseModule(text))` is the check for emitted modules.
import type { ModuleAst, OpAst } from './ast.ts';
import { MlirSyntaxError, MlirVerifyError, type Diagnostic } from './errors.ts';
import { parseModule } from './parse.ts';
import { verifyModule, type VerifyOptions } from './verify.ts';

export type * from './ast.ts';
export { functions, getAttr } from './ast.ts';
export { formatDiagnostic, MlirSyntaxError, MlirVerifyError, type Diagnostic } from './errors.ts';
export { parseModule, type ParseOptions } from './parse.ts';
export { printModule } from './printer.ts';
export { printAttr, printLoc, printType } from './syntax.ts';
export { verifyModule, type VerifyOptions } from './verify.ts';

/** Parse and verify: every problem as a diagnostic (a syntax error is the only one when there is one). */
export function checkText(text: string, filename: string, opts: VerifyOptions = {}): Diagnostic[] {
  return checkReport(text, filename, opts).diagnostics;
}

export interface CheckReport {
  diagnostics: Diagnostic[];
  /** Counts of what was checked (zero when the text does not parse). */
  functions: number;
  ops: number;
}

/** `checkText` plus what `flipc check` summarizes. */
export function checkReport(text: string, filename: string, opts: VerifyOptions = {}): CheckReport {
  let m: ModuleAst;
  try {
    m = parseModule(text, { filename });
  } catch (e) {
    if (e instanceof MlirSyntaxError) return { diagnostics: [e.diagnostic], functions: 0, ops: 0 };
    throw e;
  }
  return { diagnostics: verifyModule(m, opts), ...countOps(m) };
}

function countOps(m: ModuleAst): { functions: number; ops: number } {
  let functions = 0;
  let ops = 0;
  const walkOps = (list: OpAst[]): void => {
    for (const op of list) {
      ops++;
      for (const r of op.regions) for (const b of r.blocks) walkOps(b.ops);
    }
  };
  const walk = (mod: ModuleAst): void => {
    for (const item of mod.body) {
      if (item.kind === 'module') walk(item);
      else if (item.kind === 'op') walkOps([item]);
      else {
        functions++;
        for (const b of item.body?.blocks ?? []) walkOps(b.ops);
      }
    }
  };
  walk(m);
  return { functions, ops };
}

/** Parses and verifies, throwing MlirSyntaxError or MlirVerifyError (notes do not count). */
export function parseAndVerify(text: string, filename = '<input>', opts: VerifyOptions = {}): ModuleAst {
  const m = parseModule(text, { filename });
  const diags = verifyModule(m, opts);
  if (diags.some((d) => d.severity === 'error')) throw new MlirVerifyError(diags);
  return m;
}

// `flipc check`: argument parsing for parsing and verifying a StableHLO .mlir file (logic in compiler/mlir).
import { readFileSync } from 'node:fs';
import type { Command } from '../cli.ts';
import { FlipError } from '../../compiler/ir/errors.ts';
import { checkReport, formatDiagnostic } from '../../compiler/mlir/index.ts';

const help = `usage: flipc check <file.mlir> [--strict]

Parses a StableHLO module (the text JAX's .lower().as_text() or flipc compile writes), checks SSA
definitions and uses, function signatures against returns and calls, and the operand and result types
of every StableHLO op. Prints one line of summary and exits 0 when it is valid; otherwise prints one
line per problem as file:line:col: message and exits 2.

An op the StableHLO dialect does not have (stablehlo.frobnicate) is an error. Ops of dialects it does not
verify (sdy, mhlo, chlo, custom ones) are accepted as written, with a note.

options:
  --strict     treat ops it cannot verify as errors`;

const check: Command = {
  summary: 'parse and verify a StableHLO .mlir file',
  help,
  options: { strict: { type: 'boolean' } },
  async run({ values, positionals }) {
    const file = positionals[0];
    if (!file || positionals.length > 1) throw new FlipError('expected one <file.mlir> (flipc check --help)');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new FlipError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const report = checkReport(text, file, { strict: values.strict === true });
    const diags = report.diagnostics;
    const errors = diags.filter((d) => d.severity === 'error');
    for (const d of diags) (d.severity === 'error' ? console.error : console.log)(formatDiagnostic(d));
    if (errors.length) {
      console.error(`${file}: ${errors.length} error${errors.length === 1 ? '' : 's'}`);
      return 2;
    }
    const { functions: f, ops, diagnostics: { length: notes } } = report;
    console.log(`${file}: ok (${f} function${f === 1 ? '' : 's'}, ${ops} ops${notes ? `, ${notes} note${notes === 1 ? '' : 's'}` : ''})`);
    return 0;
  },
};

export default check;

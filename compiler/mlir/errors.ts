// Errors and diagnostics of the MLIR reader: each names the file, line and column.
import { FlipError } from '../ir/errors.ts';

export interface Diagnostic {
  severity: 'error' | 'note';
  message: string;
  file: string;
  line: number;
  col: number;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity === 'note' ? 'note: ' : ''}${d.message}`;
}

/** Malformed MLIR text: a lexing or parsing error, or custom op syntax that does not fit its op. */
export class MlirSyntaxError extends FlipError {
  override name = 'MlirSyntaxError';
  constructor(
    readonly detail: string,
    readonly file: string,
    readonly line: number,
    readonly col: number,
  ) {
    super(`${file}:${line}:${col}: ${detail}`);
  }
  get diagnostic(): Diagnostic {
    return { severity: 'error', message: this.detail, file: this.file, line: this.line, col: this.col };
  }
}

/** A module that parses but does not verify; carries every error diagnostic. */
export class MlirVerifyError extends FlipError {
  override name = 'MlirVerifyError';
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic).join('\n'));
  }
}

// Type-checking a user's model file with ts-morph and listing its exported functions with their declared parameter types.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Node, Project, ts, type Diagnostic, type SourceFile, type Type } from 'ts-morph';
import { FlipError } from '../ir/errors.ts';
import type { Loc } from '../ir/types.ts';

/** The flip checkout; its tsconfig.json gives the compiler options user files are checked with. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export class TypeCheckError extends FlipError {
  override name = 'TypeCheckError';
}

/** What a parameter's TS type says about a tensor leaf: dtype and axis names when they are literal types. */
export interface DeclaredTensor {
  /** Pytree path below the parameter (`''` for the parameter itself, `w1.kernel` inside an object). */
  readonly path: string;
  readonly dtype?: string;
  /** Axis names; `ordered` false when the type gives the set only (`('batch' | 'embed')[]`). */
  readonly axes?: readonly string[];
  readonly ordered: boolean;
  /** The type as the user wrote it, for messages. */
  readonly text: string;
}

export interface ParamInfo {
  readonly name: string;
  readonly optional: boolean;
  readonly typeText: string;
  readonly tensors: readonly DeclaredTensor[];
}

export interface ExportedFunction {
  readonly name: string;
  readonly params: readonly ParamInfo[];
  /** `file:line:col` of the declaration. */
  readonly where: string;
  /** The declaration's position, as the tracer writes locations (path relative to the working directory). */
  readonly loc: Loc;
}

/** Folders whose files are flip's own: their diagnostics are not the user's to fix (and they are checked by `npm run typecheck`). */
const LIBRARY_DIRS = ['compiler', 'dsl', 'runtime-native'].map((d) => path.join(REPO_ROOT, d) + path.sep);

let project: Project | undefined;
/** One Project per process: the lib and library files are parsed once, however many files a test suite checks. */
function getProject(): Project {
  project ??= new Project({ tsConfigFilePath: path.join(REPO_ROOT, 'tsconfig.json'), skipAddingFilesFromTsConfig: true });
  return project;
}

function isUserFile(file: string): boolean {
  return !file.includes(`${path.sep}node_modules${path.sep}`) && !LIBRARY_DIRS.some((d) => file.startsWith(d));
}

/** `examples/mlp.ts:12:5: message (TS2322)`, path relative to the working directory as the tracer's locations are. */
function showDiagnostic(d: Diagnostic): string {
  const sf = d.getSourceFile();
  const text = ts.flattenDiagnosticMessageText(d.getMessageText() as string | ts.DiagnosticMessageChain, '\n').split('\n')[0]!.trim();
  if (!sf) return `${text} (TS${d.getCode()})`;
  const { line, column } = sf.getLineAndColumnAtPos(d.getStart() ?? 0);
  return `${relative(sf.getFilePath())}:${line}:${column}: ${text} (TS${d.getCode()})`;
}

export function relative(file: string): string {
  return path.relative(process.cwd(), file).split(path.sep).join('/');
}

/**
 * Type-check `files` (and the user files they import) with the repo's compiler options. Returns the source files;
 * throws TypeCheckError with one `file:line:col: message` line per error.
 */
export function typeCheck(files: readonly string[]): SourceFile[] {
  const p = getProject();
  const sources = files.map((f) => {
    const abs = path.resolve(f);
    const existing = p.getSourceFile(abs);
    if (existing) {
      existing.refreshFromFileSystemSync();
      return existing;
    }
    return p.addSourceFileAtPath(abs);
  });
  for (const sf of p.getSourceFiles()) if (isUserFile(sf.getFilePath()) && !sources.includes(sf)) sf.refreshFromFileSystemSync();
  p.resolveSourceFileDependencies();
  const program = p.getProgram();
  const errors: string[] = [];
  for (const sf of p.getSourceFiles()) {
    if (!isUserFile(sf.getFilePath())) continue;
    for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)])
      if (d.getCategory() === ts.DiagnosticCategory.Error) errors.push(showDiagnostic(d));
  }
  if (errors.length) throw new TypeCheckError(errors.join('\n'));
  return sources;
}

/** Walk a parameter type down to its tensor leaves (a class named Tensor, or anything with dtype/shape/axes members). */
function declaredTensors(type: Type, at: Node, prefix: string, depth = 0): DeclaredTensor[] {
  if (depth > 8) return [];
  const symbol = type.getSymbol() ?? type.getAliasSymbol();
  if (symbol?.getName() === 'Tensor') {
    const [d, a] = type.getTypeArguments();
    const dtype = d?.isStringLiteral() ? String(d.getLiteralValue()) : undefined;
    let axes: string[] | undefined;
    let ordered = false;
    if (a?.isTuple()) {
      const items = a.getTupleElements();
      if (items.every((t) => t.isStringLiteral())) [axes, ordered] = [items.map((t) => String(t.getLiteralValue())), true];
    } else if (a?.isArray()) {
      const item = a.getArrayElementTypeOrThrow();
      const parts = item.isUnion() ? item.getUnionTypes() : [item];
      if (parts.every((t) => t.isStringLiteral())) axes = parts.map((t) => String(t.getLiteralValue()));
    }
    return [{ path: prefix, ...(dtype ? { dtype } : {}), ...(axes ? { axes } : {}), ordered, text: type.getText(at, ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope) }];
  }
  if (type.isObject() && !type.isArray() && !type.isTuple() && type.getCallSignatures().length === 0) {
    return type.getProperties().flatMap((p) => declaredTensors(p.getTypeAtLocation(at), at, prefix ? `${prefix}.${p.getName()}` : p.getName(), depth + 1));
  }
  return [];
}

/** The exported functions of a file: declarations, `export const f = (…) => …`, and re-exports, with their parameters. */
export function exportedFunctions(sf: SourceFile): ExportedFunction[] {
  const out: ExportedFunction[] = [];
  for (const [name, decls] of sf.getExportedDeclarations()) {
    const decl = decls[0];
    if (!decl || Node.isClassDeclaration(decl) || Node.isInterfaceDeclaration(decl) || Node.isTypeAliasDeclaration(decl)) continue;
    const sig = decl.getType().getCallSignatures()[0];
    if (!sig) continue;
    const params = sig.getParameters().map((p): ParamInfo => {
      const t = p.getTypeAtLocation(decl);
      const pd = p.getValueDeclaration();
      const optional = !!pd && Node.isParameterDeclaration(pd) && (pd.isOptional() || pd.hasInitializer());
      return { name: p.getName(), optional, typeText: t.getText(decl), tensors: declaredTensors(t, decl, '') };
    });
    const { line, column } = decl.getSourceFile().getLineAndColumnAtPos(decl.getStart());
    const file = relative(decl.getSourceFile().getFilePath());
    out.push({ name, params, where: `${file}:${line}:${column}`, loc: { file, line, col: column } });
  }
  return out;
}

/**
 * Where `file` declares its export `name`, as exportedFunctions reports it (file relative to the working directory),
 * from a parse of that one file (no type-check): how a program that lowers an entry itself (flip run's train step)
 * gives its module the same function location that flipc compile gives it.
 */
export function declarationLoc(file: string, name: string): Loc | undefined {
  const project = new Project({ useInMemoryFileSystem: false, skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true, compilerOptions: { allowJs: false } });
  const sf = project.addSourceFileAtPath(file);
  const decl = sf.getFunction(name) ?? sf.getVariableDeclaration(name);
  if (!decl || !decl.isExported()) return undefined;
  const { line, column } = sf.getLineAndColumnAtPos(decl.getStart());
  const rel = relative(sf.getFilePath());
  return { file: rel, line, col: column };
}

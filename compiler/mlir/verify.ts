// verifyModule: SSA definedness and uses, function signatures against returns and calls, and
// per-op type rules (rules.ts). Every problem is a Diagnostic at a line:column; none is thrown.
import type { BlockAst, FuncAst, ModuleAst, OpAst, Pos, RegionAst, TypeAst, ValueUse } from './ast.ts';
import { functions } from './ast.ts';
import type { Diagnostic } from './errors.ts';
import { KNOWN_STABLEHLO_OPS, OP_RULES, type RuleContext } from './rules.ts';
import { printType, typesEqual } from './syntax.ts';

export interface VerifyOptions {
  /** Ops of dialects we do not verify are errors instead of notes. */
  strict?: boolean;
}

interface Def {
  types: (TypeAst | null)[];
  grouped: boolean;
  pos: Pos;
}

class Scope {
  readonly defs = new Map<string, Def>();
  constructor(readonly parent: Scope | null) {}
  lookup(name: string): Def | undefined {
    for (let s: Scope | null = this; s; s = s.parent) {
      const d = s.defs.get(name);
      if (d) return d;
    }
    return undefined;
  }
}

/** Checks a parsed module; returns errors and notes (empty when all is well). */
export function verifyModule(m: ModuleAst, opts: VerifyOptions = {}): Diagnostic[] {
  return new Verifier(m, opts).run();
}

class Verifier {
  readonly diags: Diagnostic[] = [];
  readonly funcs = new Map<string, FuncAst>();
  readonly unverified = new Set<string>();

  constructor(readonly m: ModuleAst, readonly opts: VerifyOptions) {}

  error(message: string, p: Pos): void {
    this.diags.push({ severity: 'error', message, file: this.m.filename, line: p.line, col: p.col });
  }
  note(message: string, p: Pos): void {
    this.diags.push({ severity: 'note', message, file: this.m.filename, line: p.line, col: p.col });
  }

  run(): Diagnostic[] {
    this.checkAliases();
    this.collectFuncs(this.m);
    this.verifyModuleBody(this.m, new Scope(null));
    return this.diags.sort((a, b) => a.line - b.line || a.col - b.col);
  }

  checkAliases(): void {
    const defined = new Set([...this.m.aliasesBefore, ...this.m.aliasesAfter].map((a) => a.name));
    const seen = new Set<string>();
    for (const a of [...this.m.aliasesBefore, ...this.m.aliasesAfter]) {
      if (seen.has(a.name)) this.error(`redefinition of alias ${a.name}`, a.pos);
      seen.add(a.name);
    }
    const checkLoc = (l: import('./ast.ts').LocAst | null, p: Pos): void => {
      if (!l) return;
      if (l.kind === 'alias' && !defined.has(l.name)) this.error(`undefined location alias ${l.name}`, p);
      else if (l.kind === 'name') checkLoc(l.child, p);
      else if (l.kind === 'callsite') { checkLoc(l.callee, p); checkLoc(l.caller, p); }
      else if (l.kind === 'fused') l.locs.forEach((x) => checkLoc(x, p));
    };
    for (const a of [...this.m.aliasesBefore, ...this.m.aliasesAfter]) if (a.kind === 'loc') checkLoc(a.loc, a.pos);
    const walkOps = (ops: OpAst[]): void => {
      for (const op of ops) {
        checkLoc(op.loc, op.pos);
        for (const r of op.regions) for (const b of r.blocks) { b.args.forEach((x) => checkLoc(x.loc, x.pos)); walkOps(b.ops); }
      }
    };
    const walkModule = (mod: ModuleAst): void => {
      checkLoc(mod.loc, mod.pos);
      for (const item of mod.body) {
        if (item.kind === 'module') walkModule(item);
        else if (item.kind === 'op') walkOps([item]);
        else {
          checkLoc(item.loc, item.pos);
          item.args.forEach((x) => checkLoc(x.loc, x.pos));
          item.results.forEach((r) => checkLoc(r.loc, item.pos));
          if (item.body) for (const b of item.body.blocks) walkOps(b.ops);
        }
      }
    };
    walkModule(this.m);
  }

  collectFuncs(mod: ModuleAst): void {
    for (const f of functions(mod)) {
      if (this.funcs.has(f.name)) this.error(`redefinition of function @${f.name}`, f.pos);
      else this.funcs.set(f.name, f);
    }
  }

  verifyModuleBody(mod: ModuleAst, scope: Scope): void {
    for (const item of mod.body) {
      if (item.kind === 'func') this.verifyFunc(item);
      else if (item.kind === 'module') this.verifyModuleBody(item, new Scope(null));
      else this.verifyOp(item, scope, null);
    }
  }

  verifyFunc(f: FuncAst): void {
    if (!f.body) return;
    const scope = new Scope(null);
    for (const a of f.args) {
      if (!a.name) {
        this.error(`@${f.name} has a body, so its arguments need names`, a.pos);
        continue;
      }
      if (scope.defs.has(a.name)) this.error(`redefinition of ${a.name}`, a.pos);
      scope.defs.set(a.name, { types: [a.type], grouped: false, pos: a.pos });
    }
    const entry = f.body.blocks[0];
    if (!entry) return;
    this.verifyBlocks(f.body, scope, f);
    const last = entry.ops[entry.ops.length - 1];
    if (f.body.blocks.length === 1 && (!last || (last.name !== 'return' && last.name !== 'func.return'))) {
      this.error(`function @${f.name} does not end with a return`, last?.pos ?? f.pos);
    }
  }

  verifyBlocks(r: RegionAst, outer: Scope, func: FuncAst | null): void {
    // Block labels and arguments first, so that branches could name later blocks.
    const scope = new Scope(outer);
    for (const b of r.blocks) this.defineBlockArgs(b, scope);
    for (const b of r.blocks) for (const op of b.ops) this.verifyOp(op, scope, func);
  }

  defineBlockArgs(b: BlockAst, scope: Scope): void {
    for (const a of b.args) {
      if (scope.lookup(a.name)) this.error(`redefinition of ${a.name}`, a.pos);
      scope.defs.set(a.name, { types: [a.type], grouped: false, pos: a.pos });
    }
  }

  /** The type of a use, or undefined after reporting it as undefined. null: defined, type unknown. */
  useType(u: ValueUse, scope: Scope): TypeAst | null | undefined {
    const d = scope.lookup(u.name);
    if (!d) {
      this.error(`use of undefined value ${u.name}`, u.pos);
      return undefined;
    }
    if (u.index === null) {
      if (d.types.length !== 1) {
        this.error(`${u.name} names ${d.types.length} results; use ${u.name}#0 .. ${u.name}#${d.types.length - 1}`, u.pos);
        return undefined;
      }
      return d.types[0]!;
    }
    if (u.index >= d.types.length) {
      this.error(`${u.name}#${u.index} is out of range: ${u.name} has ${d.types.length} result${d.types.length === 1 ? '' : 's'}`, u.pos);
      return undefined;
    }
    return d.types[u.index]!;
  }

  verifyOp(op: OpAst, scope: Scope, func: FuncAst | null): void {
    // Operands: defined, and of the types the op's signature states.
    const defTypes: (TypeAst | null)[] = [];
    let operandsOk = true;
    op.operands.forEach((u) => {
      const t = this.useType(u, scope);
      if (t === undefined) operandsOk = false;
      defTypes.push(t ?? null);
    });
    if (op.operandTypes && op.operandTypes.length !== op.operands.length) {
      this.error(`${op.name} has ${op.operands.length} operand${op.operands.length === 1 ? '' : 's'} but its type signature lists ${op.operandTypes.length}`, op.pos);
      operandsOk = false;
    } else if (op.operandTypes) {
      op.operandTypes.forEach((t, i) => {
        const d = defTypes[i];
        if (d && !typesEqual(d, t)) {
          const u = op.operands[i]!;
          this.error(`${op.name}: operand #${i} (${u.name}${u.index !== null ? '#' + u.index : ''}) has type ${printType(d)}, but the type signature says ${printType(t)}`, u.pos);
        }
      });
    }
    const operandTypes: (TypeAst | null)[] = op.operandTypes ?? defTypes;

    // Regions see the enclosing values.
    for (const r of op.regions) this.verifyBlocks(r, scope, null);

    // Results.
    const nResults = op.results.reduce((n, r) => n + r.count, 0);
    const resultTypes: (TypeAst | null)[] = op.resultTypes ?? new Array<TypeAst | null>(nResults).fill(null);
    if (op.resultTypes && op.resultTypes.length !== nResults) {
      this.error(`${op.name} has ${op.resultTypes.length} result${op.resultTypes.length === 1 ? '' : 's'} but ${nResults} ${nResults === 1 ? 'is' : 'are'} bound`, op.pos);
    }

    if (operandsOk) this.checkRule(op, operandTypes, resultTypes, func);

    let k = 0;
    for (const g of op.results) {
      if (scope.lookup(g.name)) this.error(`redefinition of ${g.name}`, g.pos);
      const types = Array.from({ length: g.count }, (_, i) => resultTypes[k + i] ?? null);
      k += g.count;
      scope.defs.set(g.name, { types, grouped: g.count > 1, pos: g.pos });
    }
  }

  checkRule(op: OpAst, operandTypes: (TypeAst | null)[], resultTypes: (TypeAst | null)[], func: FuncAst | null): void {
    const ctx: RuleContext = {
      op,
      operandTypes,
      resultTypes,
      error: (msg, p) => this.error(`${op.name}: ${msg}`, p ?? op.pos),
      func: (name) => this.funcs.get(name),
    };
    if (op.name === 'return' || op.name === 'func.return') {
      this.checkReturn(op, operandTypes, func);
      return;
    }
    const rule = OP_RULES[op.name];
    if (rule) {
      rule(ctx);
      return;
    }
    const dialect = op.name.includes('.') ? op.name.slice(0, op.name.indexOf('.')) : 'builtin';
    if (dialect === 'stablehlo' && KNOWN_STABLEHLO_OPS.has(op.name.slice('stablehlo.'.length))) return;
    // An op the StableHLO dialect does not have is a mistake (a typo, a made-up name): no plugin compiles it.
    if (dialect === 'stablehlo') {
      this.error(`unknown op ${op.name}: StableHLO has no such op`, op.pos);
      return;
    }
    const what = `${op.name} is not verified (dialect '${dialect}')`;
    if (this.opts.strict) this.error(what, op.pos);
    else if (!this.unverified.has(op.name)) {
      this.unverified.add(op.name);
      this.note(`${what}; accepted as written`, op.pos);
    }
  }

  checkReturn(op: OpAst, types: (TypeAst | null)[], func: FuncAst | null): void {
    if (!func) {
      this.error(`${op.name} outside a function body (regions end with stablehlo.return)`, op.pos);
      return;
    }
    const want = func.results.map((r) => r.type);
    if (want.length !== types.length) {
      this.error(`return type mismatch in @${func.name}: the function returns ${want.length} value${want.length === 1 ? '' : 's'} (${want.map(printType).join(', ')}), found ${types.length}`, op.pos);
      return;
    }
    want.forEach((w, i) => {
      const t = types[i];
      if (t && !typesEqual(t, w)) {
        this.error(`return type mismatch in @${func.name}: result #${i} expected ${printType(w)}, found ${printType(t)}`, op.operands[i]?.pos ?? op.pos);
      }
    });
  }
}

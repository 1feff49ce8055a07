// Printing of types, attributes, locations and values in MLIR's textual spelling, and type helpers.
import type { AttrAst, ConvDims, DenseLiteral, LocAst, NamedAttr, SignatureAst, TypeAst, ValueUse } from './ast.ts';

export function printType(t: TypeAst): string {
  switch (t.kind) {
    case 'tensor': {
      const enc = t.encoding ? `, ${printAttr(t.encoding)}` : '';
      if (t.shape === null) return `tensor<*x${printType(t.element)}${enc}>`;
      return `tensor<${t.shape.map((d) => `${d ?? '?'}x`).join('')}${printType(t.element)}${enc}>`;
    }
    case 'scalar':
      return t.name;
    case 'complex':
      return `complex<${printType(t.element)}>`;
    case 'tuple':
      return `tuple<${t.types.map(printType).join(', ')}>`;
    case 'dialect':
      return `!${t.name}${t.body !== null ? `<${t.body}>` : ''}`;
    case 'function':
      return printFunctionType(t.inputs, t.results);
  }
}

/** `(a, b) -> c`, results in parentheses unless there is exactly one that is not a function. */
export function printFunctionType(inputs: TypeAst[], results: TypeAst[]): string {
  return `(${inputs.map(printType).join(', ')}) -> ${printResults(results)}`;
}

export function printResults(results: TypeAst[]): string {
  return results.length === 1 && results[0]!.kind !== 'function' ? printType(results[0]!) : `(${results.map(printType).join(', ')})`;
}

export function printSignature(s: SignatureAst): string {
  if (s.kind === 'list') return s.types.map(printType).join(', ');
  const ins = s.bare && s.inputs.length >= 1 ? s.inputs.map(printType).join(', ') : `(${s.inputs.map(printType).join(', ')})`;
  const outs = s.parenResults ? `(${s.results.map(printType).join(', ')})` : printResults(s.results);
  return `${ins} -> ${outs}`;
}

export function typesEqual(a: TypeAst, b: TypeAst): boolean {
  return printType(a) === printType(b);
}

export function printDense(d: DenseLiteral): string {
  switch (d.kind) {
    case 'scalar':
      return d.text;
    case 'complex':
      return `(${d.re},${d.im})`;  // as MLIR prints it
    case 'list':
      return `[${d.items.map(printDense).join(', ')}]`;
    case 'hex':
      return `"${d.text}"`;
  }
}

export function printConvDims(d: ConvDims): string {
  const layout = (batch: number, feature: number, spatial: number[], b: string, f: string): string => {
    const rank = spatial.length + 2;
    const out: string[] = new Array<string>(rank).fill('?');
    if (batch >= 0 && batch < rank) out[batch] = b;
    if (feature >= 0 && feature < rank) out[feature] = f;
    spatial.forEach((dim, i) => { if (dim >= 0 && dim < rank) out[dim] = String(i); });
    return `[${out.join(', ')}]`;
  };
  return (
    layout(d.inputBatchDim, d.inputFeatureDim, d.inputSpatialDims, 'b', 'f') + 'x' +
    layout(d.kernelInputFeatureDim, d.kernelOutputFeatureDim, d.kernelSpatialDims, 'i', 'o') + '->' +
    layout(d.outputBatchDim, d.outputFeatureDim, d.outputSpatialDims, 'b', 'f')
  );
}

const list = (xs: number[]): string => `[${xs.join(', ')}]`;

export function printAttr(a: AttrAst): string {
  const typed = (s: string, t: TypeAst | null): string => (t ? `${s} : ${printType(t)}` : s);
  switch (a.kind) {
    case 'int':
      return typed(a.value.toString(), a.type);
    case 'float':
      return typed(a.text, a.type);
    case 'bool':
      return String(a.value);
    case 'string':
      return typed(`"${a.value}"`, a.type);
    case 'array':
      return `[${a.elements.map(printAttr).join(', ')}]`;
    case 'dict':
      return printAttrDict(a.entries);
    case 'dense_array':
      return `array<${printType(a.elementType)}${a.values.length ? `: ${a.values.join(', ')}` : ''}>`;
    case 'dense':
      // No elements: `dense<>`, which fits a zero-element tensor of any rank (`dense<[]>` fits rank 1 only).
      return typed(`dense<${a.value.kind === 'list' && !a.value.items.length ? '' : printDense(a.value)}>`, a.type);
    case 'type':
      return printType(a.type);
    case 'symbol':
      return a.path.map(printSymbol).join('::');
    case 'unit':
      return 'unit';
    case 'ident':
      return a.name;
    case 'alias':
      return a.name;
    case 'opaque':
      return `#${a.dialect}${a.name ? '.' + a.name : ''}<${a.body}>`;
    case 'angle':
      return `<${a.body}>`;
    case 'enum':
      return `#${a.dialect}<${a.enumName} ${a.value}>`;
    case 'gather': {
      const d = a.dims;
      const parts: string[] = [];
      if (d.offsetDims.length) parts.push(`offset_dims = ${list(d.offsetDims)}`);
      if (d.collapsedSliceDims.length) parts.push(`collapsed_slice_dims = ${list(d.collapsedSliceDims)}`);
      if (d.operandBatchingDims.length) parts.push(`operand_batching_dims = ${list(d.operandBatchingDims)}`);
      if (d.startIndicesBatchingDims.length) parts.push(`start_indices_batching_dims = ${list(d.startIndicesBatchingDims)}`);
      if (d.startIndexMap.length) parts.push(`start_index_map = ${list(d.startIndexMap)}`);
      parts.push(`index_vector_dim = ${d.indexVectorDim}`);
      return `#stablehlo.gather<${parts.join(', ')}>`;
    }
    case 'scatter': {
      const d = a.dims;
      const parts: string[] = [];
      if (d.updateWindowDims.length) parts.push(`update_window_dims = ${list(d.updateWindowDims)}`);
      if (d.insertedWindowDims.length) parts.push(`inserted_window_dims = ${list(d.insertedWindowDims)}`);
      if (d.inputBatchingDims.length) parts.push(`input_batching_dims = ${list(d.inputBatchingDims)}`);
      if (d.scatterIndicesBatchingDims.length) parts.push(`scatter_indices_batching_dims = ${list(d.scatterIndicesBatchingDims)}`);
      if (d.scatterDimsToOperandDims.length) parts.push(`scatter_dims_to_operand_dims = ${list(d.scatterDimsToOperandDims)}`);
      parts.push(`index_vector_dim = ${d.indexVectorDim}`);
      return `#stablehlo.scatter<${parts.join(', ')}>`;
    }
    case 'dot': {
      const d = a.dims;
      const parts: string[] = [];
      if (d.lhsBatchingDims.length) parts.push(`lhs_batching_dimensions = ${list(d.lhsBatchingDims)}`);
      if (d.rhsBatchingDims.length) parts.push(`rhs_batching_dimensions = ${list(d.rhsBatchingDims)}`);
      if (d.lhsContractingDims.length) parts.push(`lhs_contracting_dimensions = ${list(d.lhsContractingDims)}`);
      if (d.rhsContractingDims.length) parts.push(`rhs_contracting_dimensions = ${list(d.rhsContractingDims)}`);
      return `#stablehlo.dot<${parts.join(', ')}>`;
    }
    case 'conv':
      return `#stablehlo.conv<${printConvDims(a.dims)}>`;
  }
}

export function printSymbol(name: string): string {
  return /^[\w$.\-]+$/.test(name) ? `@${name}` : `@"${name.replace(/["\\]/g, (c) => '\\' + c)}"`;
}

export function printAttrName(a: NamedAttr): string {
  return a.quoted ? `"${a.name.replace(/["\\]/g, (c) => '\\' + c)}"` : a.name;
}

export function printAttrDict(entries: NamedAttr[]): string {
  return `{${entries.map((e) => (e.value.kind === 'unit' ? printAttrName(e) : `${printAttrName(e)} = ${printAttr(e.value)}`)).join(', ')}}`;
}

export function printLoc(l: LocAst): string {
  switch (l.kind) {
    case 'unknown':
      return 'unknown';
    case 'file': {
      let s = `"${l.file}":${l.line}:${l.col}`;
      if (l.endCol !== null) s += ` to ${l.endLine !== null ? l.endLine : ''}:${l.endCol}`;
      return s;
    }
    case 'name':
      return `"${l.name}"${l.child ? `(${printLoc(l.child)})` : ''}`;
    case 'callsite':
      return `callsite(${printLoc(l.callee)} at ${printLoc(l.caller)})`;
    case 'fused':
      return `fused${l.metadata ? `<${printAttr(l.metadata)}>` : ''}[${l.locs.map(printLoc).join(', ')}]`;
    case 'alias':
      return l.name;
  }
}

export function printValue(v: ValueUse): string {
  return v.index === null ? v.name : `${v.name}#${v.index}`;
}

// ------------------------------------------------------------------------------- type helpers

export function isTensor(t: TypeAst): t is Extract<TypeAst, { kind: 'tensor' }> {
  return t.kind === 'tensor';
}

/** The static shape of a ranked tensor type, or null (unranked, not a tensor). */
export function shapeOf(t: TypeAst): (number | null)[] | null {
  return t.kind === 'tensor' ? t.shape : null;
}

export function elementOf(t: TypeAst): TypeAst | null {
  return t.kind === 'tensor' ? t.element : null;
}

export function elementName(t: TypeAst): string {
  const e = elementOf(t) ?? t;
  return printType(e);
}

export function isFloatElement(e: string): boolean {
  return /^(f\d+|bf16|tf32|f8E\w+|f6E\w+|f4E\w+)$/.test(e);
}

export function isIntElement(e: string): boolean {
  return /^[su]?i\d+$/.test(e);
}

export function isComplexElement(e: string): boolean {
  return e.startsWith('complex<');
}

/** Bits of an element type (complex counts both parts), or null when unknown. */
export function bitWidth(e: string): number | null {
  const m = /^(?:[su]?i|f)(\d+)$/.exec(e);
  if (m) return Number(m[1]);
  if (e === 'bf16') return 16;
  if (e === 'tf32') return 32;
  if (/^f8E/.test(e)) return 8;
  if (/^f6E/.test(e)) return 6;
  if (/^f4E/.test(e)) return 4;
  const c = /^complex<(.*)>$/.exec(e);
  if (c) {
    const w = bitWidth(c[1]!);
    return w === null ? null : 2 * w;
  }
  return null;
}

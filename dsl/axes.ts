// Type-level axis names: how the TS type of a Tensor tracks its axis names through ops, so that mistakes are tsc errors.
//
// A tensor's axes type is either a literal tuple (`['batch', 'embed']`, exact order), a union array
// (`('batch' | 'embed')[]`, the set is known but not the order, e.g. after `zeros('f32', {batch: 2, embed: 4})`),
// or `readonly string[]` (unknown). Checks compare *sets* (`A[number]`), so they work for all three forms and
// accept anything when a side is unknown: the type system refuses what is certainly wrong, the tracer the rest.

export type Axes = readonly string[];

/** Is every axis of B an axis of A? (`string` on the A side contains everything.) */
export type IsSubset<B extends Axes, A extends Axes> = [B[number]] extends [A[number]] ? true : false;

/** The axes of a binary op's result: the operand whose axis set contains the other's (lhs when equal). */
export type Aligned<A extends Axes, B extends Axes> =
  IsSubset<B, A> extends true ? A : IsSubset<A, B> extends true ? B : never;

/** The result axes of a three-operand op (`where`). */
export type Aligned3<A extends Axes, B extends Axes, C extends Axes> = Aligned<Aligned<A, B>, C>;

/** Shown in the tsc error when two axis sets are not subset-related. */
export interface AxisSetsUnrelated<A, B> {
  readonly 'error: neither axis set contains the other': { readonly lhs: A; readonly rhs: B };
}

/** `unknown` (no constraint) when A and B align, else an impossible brand that makes the argument a tsc error. */
export type AlignCheck<A extends Axes, B extends Axes> =
  IsSubset<B, A> extends true ? unknown : IsSubset<A, B> extends true ? unknown : AxisSetsUnrelated<A, B>;

/** A without the axes in R (tuples stay tuples). */
export type Remove<A extends Axes, R> =
  A extends readonly [infer H extends string, ...infer T extends Axes]
    ? H extends R ? Remove<T, R> : readonly [H, ...Remove<T, R>]
    : A extends readonly [] ? readonly [] : readonly Exclude<A[number], R>[];

/** A with axis F renamed to N. */
export type Rename<A extends Axes, F extends string, N extends string> = { readonly [K in keyof A]: A[K] extends F ? N : A[K] };

/** The axis of takeAlongAxis' ids that replaces F: the one the ids have and x lacks, else F itself. */
export type TakenAxis<A extends Axes, F extends string, I extends Axes> =
  [Exclude<I[number], A[number]>] extends [never] ? F : Exclude<I[number], A[number]>;

/** A with axis F replaced by the axes N (in place). */
export type Replace<A extends Axes, F extends string, N extends Axes> =
  A extends readonly [infer H extends string, ...infer T extends Axes]
    ? H extends F ? readonly [...N, ...Replace<T, F, N>] : readonly [H, ...Replace<T, F, N>]
    : A extends readonly [] ? readonly [] : readonly (Exclude<A[number], F> | N[number])[];

/** A with the axes G merged into one axis N placed where the first of them was. */
export type Merge<A extends Axes, G extends string, N extends string, Done extends boolean = false> =
  A extends readonly [infer H extends string, ...infer T extends Axes]
    ? H extends G
      ? Done extends true ? Merge<T, G, N, true> : readonly [N, ...Merge<T, G, N, true>]
      : readonly [H, ...Merge<T, G, N, Done>]
    : A extends readonly [] ? readonly [] : readonly (Exclude<A[number], G> | N)[];

/** Axis names of a record of sizes (`{batch: 8, embed: 64}`): the set, as TS cannot see key order; `{}` is a scalar. */
export type AxesOf<S> = [keyof S & string] extends [never] ? readonly [] : readonly (keyof S & string)[];

type Trim<S extends string> = S extends ` ${infer R}` ? Trim<R> : S extends `${infer R} ` ? Trim<R> : S;
/** Whitespace-separated words of a string literal type. */
export type Words<S extends string> =
  Trim<S> extends '' ? readonly [] : Trim<S> extends `${infer H} ${infer T}` ? readonly [H, ...Words<T>] : readonly [Trim<S>];

/** The output axes of an einsum spec: `'batch length embed, embed mlp -> batch length mlp'` → `['batch', 'length', 'mlp']`. */
export type EinsumOut<S extends string> = string extends S ? Axes : S extends `${string}->${infer O}` ? Words<O> : Axes;

/** The axes of `dot(x, y, {contract})`: x's axes without the contracted ones, then y's axes that are new. */
export type DotOut<A extends Axes, B extends Axes, C extends string> = readonly [...Remove<A, C>, ...Remove<B, C | A[number]>];

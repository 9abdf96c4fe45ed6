/**
 * Types of typed collections: `client.collection('todos', { schema: TodoSchema })` takes its document type from
 * the schema's output (any Standard Schema validator: zod, valibot, arktype...), `client.collection<Todo>('todos')`
 * from the type argument. Writes, reads, queries and filters are then checked against it: a wrong field type,
 * an unknown field or an unknown operator is a compile error. Types only: nothing here exists at run time.
 */
import type { SortDirection } from './query.js';

/** The fields Syncline adds to every document it returns. */
export interface DocMeta {
  _id: string;
  _rev?: number;
}

/** A document of a collection typed `T`, as reads return it. */
export type DocOf<T> = T & DocMeta;

/** The output type of a schema: Standard Schema's `~standard.types.output`, else zod's `_output`, else untyped. */
export type InferSchema<S> = S extends { readonly '~standard': { readonly types?: infer Types } }
  ? NonNullable<Types> extends { readonly output: infer O }
    ? O extends object
      ? O
      : Record<string, unknown>
    : Record<string, unknown>
  : S extends { readonly _output: infer O extends object }
    ? O
    : Record<string, unknown>;

type Literal<V> = V extends readonly (infer E)[] ? readonly E[] | E : V;
type Ordered<V> = [V] extends [number | string | Date] ? V : never;

/** Operators on a field of type `V` (the server's filter language): only these, with values of the field's type. */
export interface FieldOperators<V> {
  $eq?: Literal<V> | null;
  $ne?: Literal<V> | null;
  $gt?: Ordered<V>;
  $gte?: Ordered<V>;
  $lt?: Ordered<V>;
  $lte?: Ordered<V>;
  $in?: readonly (Literal<V> | null)[];
  $nin?: readonly (Literal<V> | null)[];
  $exists?: boolean;
}

/** A condition on one field: a value (equality; an element of an array field) or operators. */
export type FieldCondition<V> = Literal<V> | null | FieldOperators<V>;

type Fields<T> = { [K in keyof T & string]?: FieldCondition<T[K]> };

/**
 * A filter on documents of type `T`. For an untyped collection (`Record<string, unknown>`) any field is allowed;
 * dotted paths into nested objects (`'address.city'`) are not checked.
 */
export type TypedFilter<T> = Fields<T> & {
  _id?: FieldCondition<string>;
  _rev?: FieldCondition<number>;
  $and?: readonly TypedFilter<T>[];
  $or?: readonly TypedFilter<T>[];
  [path: `${string}.${string}`]: FieldCondition<unknown> | undefined;
};

/** A query on documents of type `T`: sort keys are its fields. */
export interface TypedQuery<T> {
  filter?: TypedFilter<T>;
  /** Fields in priority order, e.g. `{category: 'asc', price: 'desc'}` (then `_id` ascending). */
  sort?: { [K in (keyof T & string) | '_id' | '_rev']?: SortDirection };
  limit?: number;
  offset?: number;
  /** Keyset cursor: only documents after this one in the query's order (e.g. the last one of the previous page). */
  after?: Partial<T> & { _id: string };
}

/**
 * Write path messages: `POST /operations` (and, later, the `/sync` push).
 * Ordering rules: results come back one per operation, in request order.
 * Operations in one request apply in order, so a later one sees the effect of
 * an earlier one on the same document. An operation id is applied at most once:
 * a repeat returns the stored original result with status `duplicate`.
 */
import { z } from 'zod';
import type { ErrorRef } from './errors.js';
import { CollectionNameSchema, DocumentIdSchema } from './names-schema.js';
import { PositionSchema } from './position.js';
import { refineStorableText, storableText } from './text.js';
import type { VectorClock } from './vector-clock.js';

export const OPERATION_TYPES = ['insert', 'update', 'delete', 'upsert', 'patch'] as const;
export type OperationType = (typeof OPERATION_TYPES)[number];

/** A JSON object, kept as the same object (no copy, so no key is re-assigned through a setter). */
export const JsonObjectSchema = z
  .custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
    message: 'expected a JSON object',
  })
  .superRefine(refineStorableText);

export const VectorClockSchema = z
  .custom<VectorClock>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      Object.values(v).every((n) => Number.isSafeInteger(n) && (n as number) >= 0),
    { message: 'expected an object of non-negative integers' },
  )
  .superRefine(refineStorableText); // node ids are keys of a stored JSON object

export const ClientIdSchema = storableText(z.string().min(1).max(128));
export const OperationIdSchema = storableText(z.string().min(1).max(128));

export const OperationSchema = z
  .object({
    id: OperationIdSchema,
    type: z.enum(OPERATION_TYPES),
    collection: CollectionNameSchema,
    /** Optional on insert: the server then generates one and returns it in the result. */
    docId: DocumentIdSchema.optional(),
    data: JsonObjectSchema.optional(),
    timestamp: z.number().optional(),
    clientId: ClientIdSchema.optional(),
    vectorClock: VectorClockSchema.optional(),
    /** Integer optimistic concurrency: the `_rev` this operation was based on (0 = "must not exist"). */
    baseVersion: z.number().int().min(0).optional(),
    synced: z.boolean().optional(),
    /**
     * false: committed, and visible to pulls and to this instance's subscribers, but not sent
     * to other server instances over the bus (feathers-sync's per-call opt-out).
     */
    sync: z.boolean().optional(),
  })
  .superRefine((op, ctx) => {
    if (op.type !== 'delete' && op.data === undefined) {
      ctx.addIssue({ code: 'custom', path: ['data'], message: `data is required for ${op.type}` });
    }
    if (op.type !== 'insert' && op.docId === undefined) {
      ctx.addIssue({ code: 'custom', path: ['docId'], message: `docId is required for ${op.type}` });
    }
  });
export type Operation = z.infer<typeof OperationSchema>;

/** The envelope is validated as a whole; each operation on its own, so one bad one fails alone. */
export const PushRequestSchema = z.object({
  clientId: ClientIdSchema,
  operations: z.array(z.unknown()),
});
export type PushRequest = { clientId: string; operations: Operation[] };

export type OperationStatus = 'applied' | 'duplicate' | 'conflict' | 'rejected';

/** A document as it travels: `_id`, `_rev` (integer version) and its fields. */
export type WireDocument = { _id: string; _rev: number } & Record<string, unknown>;

export interface OperationResult {
  id: string;
  status: OperationStatus;
  /** For `duplicate`: what the first attempt returned. */
  originalStatus?: Exclude<OperationStatus, 'duplicate'>;
  collection?: string;
  docId?: string;
  /** The document after an applied operation (`null` after a delete). */
  document?: WireDocument | null;
  /** The server's current document, for conflicts and rejections (`null` if it does not exist). */
  serverDocument?: WireDocument | null;
  vectorClock?: VectorClock;
  /** The document's version (`_rev`) after an applied operation. */
  version?: number;
  /** Position of the commit that applied it: the change is visible to pulls after `position - 1`. */
  position?: number;
  error?: ErrorRef;
}

export interface ConflictEntry {
  id: string;
  reason: 'concurrent' | 'stale' | 'version' | 'exists';
  operation: Operation;
  serverDocument: WireDocument | null;
  serverVectorClock?: VectorClock;
}

export interface PushResponse {
  /** Operations that took effect (also duplicates whose first attempt was applied). */
  accepted: Operation[];
  conflicts: ConflictEntry[];
  results: OperationResult[];
}

export const PushResultPositionSchema = PositionSchema;

/**
 * Dialect-free parts of `applyOperations` (shared by the PostgreSQL and MySQL storages):
 * which operations of a batch are fresh, how repeats become duplicates of
 * their original result, and how results become a PushResponse.
 */

import { randomUUID } from 'node:crypto';
import {
  type ConflictEntry,
  type ErrorCode,
  FilterError,
  type OperationResult,
  type PushResponse,
  parseFilter,
  SynclineError,
} from '@syncline/protocol';
import type { PlannedOp } from '../engine/plan-operations.js';
import { validateOperation } from '../engine/validate-operation.js';
import { type Caller, type ClientOwners, opFingerprint, reusedKey, type StoredOperation, sameBody } from './operation-scope.js';
import type { TableOp } from './table-writes.js';

export interface ValidOp<O extends PlannedOp = PlannedOp> {
  index: number;
  op: O;
  /** The body as the caller sent it (operation-scope.ts): a repeat of the id must match it. */
  fingerprint: string;
}

/** First occurrence of each id not already stored is applied; later ones are repeats of it. */
export function freshOps<V extends ValidOp<PlannedOp>>(
  valid: V[],
  stored: ReadonlyMap<string, unknown>,
): { fresh: V[]; first: Map<string, V> } {
  const fresh: V[] = [];
  const first = new Map<string, V>();
  for (const v of valid) {
    if (stored.has(v.op.id) || first.has(v.op.id)) continue;
    first.set(v.op.id, v);
    fresh.push(v);
  }
  return { fresh, first };
}

/**
 * The answer to a repeated id (not fresh): the original's result as a duplicate
 * when the body is the same, else IDEMPOTENCY_KEY_REUSED. `original` is the
 * stored operation, or the first occurrence in this batch with its result.
 * Undefined when that result is not known yet (a concurrent batch: retry).
 */
export function repeatResult(
  v: ValidOp<PlannedOp>,
  original: StoredOperation | { result: OperationResult | undefined; fingerprint: string } | undefined,
  withBody: (stored: OperationResult) => OperationResult = (r) => r,
): OperationResult | undefined {
  if (!original?.result) return undefined;
  if (!sameBody(original as StoredOperation, v.fingerprint)) return reusedKey(v.op);
  return duplicateOf(withBody(original.result));
}

export function duplicateOf(original: OperationResult): OperationResult {
  const { position: _p, ...rest } = original;
  return {
    ...rest,
    status: 'duplicate',
    originalStatus: original.status === 'duplicate' ? original.originalStatus : original.status,
  } as OperationResult;
}

/** Results reported in `conflicts` too (the reference lists stale and concurrent operations there). */
const CONFLICT_REASONS: Partial<Record<ErrorCode, ConflictEntry['reason']>> = {
  CONFLICT: 'concurrent',
  STALE_OPERATION: 'stale',
  VERSION_MISMATCH: 'version',
  DOCUMENT_EXISTS: 'exists',
};

export function pushResponse(valid: ValidOp[], results: OperationResult[]): PushResponse {
  const accepted: PushResponse['accepted'] = [];
  const conflicts: PushResponse['conflicts'] = [];
  for (const { index, op } of valid) {
    const r = results[index] as OperationResult;
    const status = r.status === 'duplicate' ? r.originalStatus : r.status;
    if (status === 'applied') accepted.push(op);
    const reason = r.error && CONFLICT_REASONS[r.error.code];
    if (reason) {
      conflicts.push({
        id: op.id,
        reason,
        operation: op,
        serverDocument: r.serverDocument ?? null,
        ...(r.vectorClock ? { serverVectorClock: r.vectorClock } : {}),
      });
    }
  }
  return { accepted, conflicts, results };
}

/**
 * An operation naming a client id of its own (`clientId`, the author its vector clock and the
 * change log record) presents that client id too: one another user owns is rejected
 * CLIENT_ID_TAKEN, alone. Removes those from `split` and gives them their result.
 */
export async function refuseBorrowedClients(
  split: { results: (OperationResult | undefined)[]; valid: ValidOp[]; tableOps: ValidOp<TableOp>[] },
  caller: Caller,
  owners: ClientOwners,
): Promise<void> {
  if (caller.userId === null) return;
  const refuse = async <V extends ValidOp<PlannedOp>>(list: V[]): Promise<V[]> => {
    const kept: V[] = [];
    for (const v of list) {
      const own = v.op.clientId;
      const error =
        own === undefined || own === caller.clientId ? undefined : await owners.refusal({ clientId: own, userId: caller.userId });
      if (error) split.results[v.index] = { id: v.op.id, status: 'rejected', collection: v.op.collection, docId: v.op.docId, error };
      else kept.push(v);
    }
    return kept;
  };
  split.valid = await refuse(split.valid);
  split.tableOps = await refuse(split.tableOps);
}

/** parseFilter with its errors as SynclineErrors (UNKNOWN_OPERATOR, INVALID_FILTER). */
export function parseQueryFilter(filter: unknown): ReturnType<typeof parseFilter> {
  try {
    return parseFilter(filter ?? {});
  } catch (err) {
    if (err instanceof FilterError) throw new SynclineError(err.reason, `${err.path}: ${err.message}`, { path: err.path });
    throw err;
  }
}

/**
 * A batch validated operation by operation and split by where it goes: the
 * invalid ones get their result at once, table collections' (TABLE_NAMES) go
 * to the table path, the rest to the documents.
 */
export function splitOperations(
  operations: unknown[],
  isTable: (collection: string) => boolean,
  /** Fingerprints computed earlier (a staged action: of the action as sent, not of its staged form). */
  fingerprints?: readonly (string | undefined)[],
): { results: (OperationResult | undefined)[]; valid: ValidOp[]; tableOps: ValidOp<TableOp>[] } {
  const results: (OperationResult | undefined)[] = new Array(operations.length);
  const valid: ValidOp[] = [];
  const tableOps: ValidOp<TableOp>[] = [];
  operations.forEach((raw, index) => {
    const v = validateOperation(raw, index, randomUUID);
    if (!v.ok) {
      results[index] = v.result;
      return;
    }
    const idGiven = (raw as { docId?: unknown }).docId !== undefined;
    const fingerprint = fingerprints?.[index] ?? opFingerprint(v.op, idGiven);
    // A table may generate the key itself when the client sent none.
    if (isTable(v.op.collection)) tableOps.push({ index, op: { ...v.op, idGiven }, fingerprint });
    else valid.push({ index, op: v.op, fingerprint });
  });
  return { results, valid, tableOps };
}

/**
 * Decides, in memory, what a batch of operations does to the documents it
 * touches: the storage layer loads (and locks) those documents, calls this, then
 * writes the final state of each document in one statement.
 *
 * Conflict rules (DESIGN invariant 4), checked in this order:
 * 1. existence: insert on a live document → conflict DOCUMENT_EXISTS;
 *    update/patch/delete on a missing or deleted one → rejected DOCUMENT_NOT_FOUND.
 * 2. baseVersion (if given) must equal the current version (0 if never existed)
 *    → else conflict VERSION_MISMATCH.
 * 3. vectorClock (if given) against the stored clock: before → rejected
 *    STALE_OPERATION; concurrent → conflict CONFLICT; after/equal → accepted.
 * An accepted write's stored clock is the merge of both, and always advances
 * (the writer's entry is bumped when the merge alone would not), so two clients
 * holding the same clock can never both overwrite silently.
 */
import {
  compareClocks,
  type ErrorCode,
  type ErrorRef,
  errorRef,
  incrementClock,
  mergeClocks,
  type Operation,
  type OperationResult,
  type VectorClock,
  type WireDocument,
} from '@syncline/protocol';

export interface DocState {
  collection: string;
  id: string;
  data: Record<string, unknown>;
  version: number;
  vclock: VectorClock;
  deleted: boolean;
}

export interface DocWrite {
  state: DocState;
  /** Whether a row existed before this batch (→ UPDATE) or not (→ INSERT). */
  existed: boolean;
  opId: string;
  clientId: string;
}

export type PlannedOp = Operation & { docId: string };

export const docKey = (collection: string, id: string) => `${collection}\u0000${id}`;

export type WriteKind = 'insert' | 'update' | 'delete';
/**
 * Write rules (auth/policy.ts): may the caller make this write? `before` is the
 * live document (null when there is none), `after` what it would become (null
 * for a delete), `written` the fields the operation names. A refused operation
 * is `rejected` with FORBIDDEN (false) or the given error, and changes nothing.
 */
export interface Authorize {
  (
    kind: WriteKind,
    collection: string,
    before: WireDocument | null,
    after: WireDocument | null,
    written?: Record<string, unknown>,
  ): boolean | ErrorRef;
  /** The data a write stores, from the live document's (null: none): keeps what the caller cannot see (hidden fields). */
  shape?(collection: string, before: Record<string, unknown> | null, data: Record<string, unknown>): Record<string, unknown>;
}

export function toWire(state: DocState): WireDocument | null {
  if (state.deleted) return null;
  return { _id: state.id, _rev: state.version, ...state.data };
}

function withoutReserved(data: Record<string, unknown>): Record<string, unknown> {
  if (!('_id' in data) && !('_rev' in data)) return data;
  const { _id, _rev, ...rest } = data;
  return rest;
}

export interface Plan {
  /** One per operation, in order. */
  results: OperationResult[];
  /** Final state of each touched document. */
  writes: Map<string, DocWrite>;
}

export function planOperations(clientId: string, ops: PlannedOp[], loaded: Map<string, DocState>, authorize?: Authorize): Plan {
  const current = new Map(loaded);
  const writes = new Map<string, DocWrite>();
  const results: OperationResult[] = [];

  for (const op of ops) {
    const key = docKey(op.collection, op.docId);
    const cur = current.get(key);
    const live = cur !== undefined && !cur.deleted;
    const base = { id: op.id, collection: op.collection, docId: op.docId };

    const refuse = (status: 'conflict' | 'rejected', code: ErrorCode) => {
      const r: OperationResult = { ...base, status, serverDocument: cur ? toWire(cur) : null, error: errorRef(code) };
      if (cur) r.vectorClock = cur.vclock;
      results.push(r);
    };

    if (op.type === 'insert' && live) {
      refuse('conflict', 'DOCUMENT_EXISTS');
      continue;
    }
    if ((op.type === 'update' || op.type === 'patch' || op.type === 'delete') && !live) {
      refuse('rejected', 'DOCUMENT_NOT_FOUND');
      continue;
    }
    if (op.baseVersion !== undefined && op.baseVersion !== (cur?.version ?? 0)) {
      refuse('conflict', 'VERSION_MISMATCH');
      continue;
    }
    if (op.vectorClock && cur) {
      const order = compareClocks(op.vectorClock, cur.vclock);
      if (order === 'before') {
        refuse('rejected', 'STALE_OPERATION');
        continue;
      }
      if (order === 'concurrent') {
        refuse('conflict', 'CONFLICT');
        continue;
      }
    }

    const prevClock = cur?.vclock ?? {};
    let vclock = op.vectorClock ? mergeClocks(prevClock, op.vectorClock) : prevClock;
    if (compareClocks(vclock, prevClock) !== 'after') vclock = incrementClock(vclock, op.clientId ?? clientId);

    let data: Record<string, unknown>;
    if (op.type === 'delete') data = {};
    else if (op.type === 'patch') data = { ...(cur?.data ?? {}), ...withoutReserved(op.data ?? {}) };
    else data = withoutReserved(op.data ?? {});
    if (authorize?.shape && op.type !== 'delete') data = authorize.shape(op.collection, live && cur ? cur.data : null, data);

    const next: DocState = {
      collection: op.collection,
      id: op.docId,
      data,
      version: (cur?.version ?? 0) + 1,
      vclock,
      deleted: op.type === 'delete',
    };
    if (authorize) {
      const kind: WriteKind = op.type === 'delete' ? 'delete' : live ? 'update' : 'insert';
      const verdict = authorize(kind, op.collection, live && cur ? toWire(cur) : null, toWire(next), withoutReserved(op.data ?? {}));
      if (verdict !== true) {
        // Like any refusal, but without the server's document: the caller may not be allowed to read it.
        results.push({ ...base, status: 'rejected', error: verdict === false ? errorRef('FORBIDDEN') : verdict });
        continue;
      }
    }
    current.set(key, next);
    writes.set(key, { state: next, existed: loaded.has(key), opId: op.id, clientId: op.clientId ?? clientId });
    results.push({ ...base, status: 'applied', document: toWire(next), version: next.version, vectorClock: vclock });
  }
  return { results, writes };
}

/**
 * The SQL of one write attempt, shared by `PostgresStorage.applyOperations` and
 * the `/sendActions` held transactions, so both write documents, the change log
 * (through the statement triggers) and the operation log the same way.
 */
import type { OperationResult, VectorClock } from '@syncline/protocol';
import { type DocState, type DocWrite, docKey, type Plan, type PlannedOp, toWire } from '../engine/plan-operations.js';
import type { StoredOperation } from './operation-scope.js';
import type { SqlQueryable } from './sql-client.js';

/** The rows of one write, as column arrays for `unnest`. */
class DocColumns {
  collection: string[] = [];
  id: string[] = [];
  data: string[] = [];
  version: number[] = [];
  vclock: string[] = [];
  deleted: boolean[] = [];
  opId: string[] = [];
  clientId: string[] = [];
  prevVersion: number[] = [];

  get size(): number {
    return this.id.length;
  }

  push(w: DocWrite, prevVersion: number): void {
    this.collection.push(w.state.collection);
    this.id.push(w.state.id);
    this.data.push(JSON.stringify(w.state.data));
    this.version.push(w.state.version);
    this.vclock.push(JSON.stringify(w.state.vclock));
    this.deleted.push(w.state.deleted);
    this.opId.push(w.opId);
    this.clientId.push(w.clientId);
    this.prevVersion.push(prevVersion);
  }
}

interface ReadRow {
  stored: boolean;
  fingerprint: string | null;
  collection: string;
  id: string;
  data: unknown;
  version: number;
  vclock: VectorClock;
  deleted: boolean;
}

export interface PlanInput {
  /** This caller's logged operations among these ids (results and body fingerprints). */
  storedById: Map<string, StoredOperation>;
  /** Current state of the touched documents (absent = never existed). */
  loaded: Map<string, DocState>;
}

/** Where an operation is logged: the caller's scope (operation-scope.ts) and each operation's body fingerprint. */
export interface LogTarget {
  scope: string;
  /** One per operation, in order. */
  fingerprints: readonly string[];
}

/**
 * Reads, in one statement, the caller's (`scope`) stored results of these
 * operation ids and the documents they touch. `lock` row-locks the documents (in key order, so
 * concurrent batches lock in the same order); `nowait` fails at once with
 * lock_not_available (55P03) instead of waiting for another transaction.
 */
export async function readForPlan(
  q: SqlQueryable,
  s: string,
  scope: string,
  ops: PlannedOp[],
  lock: 'none' | 'wait' | 'nowait',
): Promise<PlanInput> {
  const { stored, loaded } = await readForPlans(q, s, [{ scope, ops }], lock);
  return { storedById: stored.get(scope) ?? new Map(), loaded };
}

/**
 * `readForPlan` for the operations of several callers at once (a write group,
 * see write-group.ts): stored results by scope, then by operation id.
 */
export async function readForPlans(
  q: SqlQueryable,
  s: string,
  parts: { scope: string; ops: PlannedOp[] }[],
  lock: 'none' | 'wait' | 'nowait',
): Promise<{ stored: Map<string, Map<string, StoredOperation>>; loaded: Map<string, DocState> }> {
  const keys = new Map<string, [string, string]>();
  const scopes: string[] = [];
  const ids: string[] = [];
  for (const part of parts) {
    for (const op of part.ops) {
      keys.set(docKey(op.collection, op.docId), [op.collection, op.docId]);
      scopes.push(part.scope);
      ids.push(op.id);
    }
  }
  const locking = lock === 'wait' ? 'FOR UPDATE' : lock === 'nowait' ? 'FOR UPDATE NOWAIT' : '';
  // One caller (the usual case): the scope is a constant, the lookup a plain index scan.
  const single = parts.length === 1;
  const logged = single
    ? `FROM ${s}.operations o WHERE o.scope = $4 AND o.id = ANY($1::text[])`
    : `FROM unnest($4::text[], $1::text[]) AS k(scope, id) JOIN ${s}.operations o ON o.scope = k.scope AND o.id = k.id`;
  const { rows } = await q.query<ReadRow & { scope: string | null }>(
    `WITH docs AS (
       SELECT collection, id, data, version, vclock, deleted FROM ${s}.documents
       WHERE (collection, id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
       ORDER BY collection, id ${locking}
     )
     SELECT true AS stored, o.scope, o.fingerprint, NULL AS collection, o.id, o.result AS data, NULL::integer AS version,
            NULL::jsonb AS vclock, NULL::boolean AS deleted
     ${logged}
     UNION ALL
     SELECT false, NULL, NULL, collection, id, data, version, vclock, deleted FROM docs`,
    [ids, [...keys.values()].map((k) => k[0]), [...keys.values()].map((k) => k[1]), single ? parts[0]?.scope : scopes],
  );
  const stored = new Map<string, Map<string, StoredOperation>>();
  const loaded = new Map<string, DocState>();
  for (const r of rows) {
    if (r.stored) {
      const scope = r.scope as string;
      const mine = stored.get(scope) ?? new Map<string, StoredOperation>();
      stored.set(scope, mine);
      mine.set(r.id, { result: r.data as OperationResult, fingerprint: r.fingerprint });
    } else loaded.set(docKey(r.collection, r.id), r as DocState);
  }
  return { stored, loaded };
}

/**
 * Writes a plan's documents and the operation log in one round trip
 * (`write_batch`, migration 5) that re-checks every version it was planned
 * against and aborts (retryably, SYR01) if anything changed in between. The
 * transaction is marked as the API's, so it is sequenced by the server after
 * commit (migrations.ts). Returns the transaction id if any document was written.
 */
export async function writePlan(
  q: SqlQueryable,
  s: string,
  clientId: string,
  target: LogTarget,
  ops: PlannedOp[],
  plan: Plan,
  loaded: Map<string, DocState>,
): Promise<string | undefined> {
  return (await writePlans(q, s, [{ clientId, target, ops, plan }], loaded, { sequence: false }))?.tx;
}

/** Parameter types of `write_batch` (migration 5). */
const WRITE_BATCH_TYPES = [
  ...['text[]', 'text[]', 'jsonb[]', 'integer[]', 'jsonb[]', 'boolean[]', 'text[]', 'text[]'],
  ...['text[]', 'text[]', 'jsonb[]', 'integer[]', 'jsonb[]', 'boolean[]', 'text[]', 'text[]', 'integer[]'],
  ...['text[]', 'text[]', 'text[]', 'text[]', 'text[]', 'text[]', 'text[]', 'jsonb[]', 'text[]'],
  'boolean',
  'integer',
];

/** One caller's planned operations in a write statement. */
export interface WritePart {
  clientId: string;
  target: LogTarget;
  ops: PlannedOp[];
  plan: Plan;
}

/**
 * `writePlan` for the plans of several callers at once (a write group, see
 * write-group.ts): their documents must not overlap. All or nothing: a race on
 * any of them aborts the whole write. `sequence`: the statement is its own
 * transaction (autocommit), which sequences itself before it commits and
 * returns its position (migration 5); never inside a longer transaction, which
 * would hold the positions lock until it ends. `lockWaitMs`: the longest it
 * waits for a row lock (default: the session's lock_timeout).
 */
export async function writePlans(
  q: SqlQueryable,
  s: string,
  parts: WritePart[],
  loaded: Map<string, DocState>,
  options: { sequence: boolean; lockWaitMs?: number },
): Promise<Written | undefined> {
  const inserts = new DocColumns();
  const updates = new DocColumns();
  // Sorted, so concurrent batches take row locks in the same order.
  const writes = parts.flatMap((part) => [...part.plan.writes.entries()]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [key, w] of writes) (w.existed ? updates : inserts).push(w, loaded.get(key)?.version ?? 0);
  const log = {
    scope: [] as string[],
    id: [] as string[],
    client: [] as string[],
    collection: [] as string[],
    doc: [] as string[],
    type: [] as string[],
    status: [] as string[],
    result: [] as string[],
    fingerprint: [] as string[],
  };
  for (const { clientId, target, ops, plan } of parts) {
    ops.forEach((op, i) => {
      const r = plan.results[i] as OperationResult;
      log.scope.push(target.scope);
      log.id.push(op.id);
      log.fingerprint.push(target.fingerprints[i] as string);
      log.client.push(op.clientId ?? clientId);
      log.collection.push(op.collection);
      log.doc.push(op.docId);
      log.type.push(op.type);
      log.status.push(r.status);
      log.result.push(JSON.stringify(toStored(r)));
    });
  }
  const columns = (c: DocColumns) => [c.collection, c.id, c.data, c.version, c.vclock, c.deleted, c.opId, c.clientId];
  const params = [
    ...columns(inserts),
    ...columns(updates),
    updates.prevVersion,
    log.scope,
    log.id,
    log.client,
    log.collection,
    log.doc,
    log.type,
    log.status,
    log.result,
    log.fingerprint,
    options.sequence,
    options.lockWaitMs ?? null,
  ];
  const { rows } = await q.query<{ tx: string; collection: string | null; doc_id: string | null; pos: string | number | null }>(
    `SELECT tx, collection, doc_id, pos FROM ${s}.write_batch(${WRITE_BATCH_TYPES.map((t, i) => `$${i + 1}::${t}`).join(', ')})`,
    params,
  );
  const tx = rows[0]?.tx;
  if (writes.length === 0 || tx === undefined) return undefined;
  const positions = new Map<string, number>();
  for (const r of rows)
    if (r.pos !== null && r.collection !== null && r.doc_id !== null) positions.set(docKey(r.collection, r.doc_id), Number(r.pos));
  return positions.size > 0 ? { tx, positions } : { tx };
}

/** A written transaction: with `positions` (of each document's change) when it sequenced itself. */
export interface Written {
  tx: string;
  positions?: Map<string, number>;
}

/**
 * Records results in the operation log (table writes; documents log in their
 * write statement). No ON CONFLICT: a concurrent duplicate of an id fails the
 * transaction with unique_violation, and the retry answers it as a duplicate.
 */
export async function logOperations(
  q: SqlQueryable,
  s: string,
  clientId: string,
  target: LogTarget,
  ops: PlannedOp[],
  results: OperationResult[],
): Promise<void> {
  await q.query(
    `INSERT INTO ${s}.operations (scope, id, client_id, collection, doc_id, type, status, result, fingerprint)
     SELECT $8::text, * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $9::text[])`,
    [
      ops.map((o) => o.id),
      ops.map((o) => o.clientId ?? clientId),
      ops.map((o) => o.collection),
      ops.map((o, i) => (results[i] as OperationResult).docId ?? o.docId),
      ops.map((o) => o.type),
      results.map((r) => r.status),
      results.map((r) => JSON.stringify(toStored(r))),
      target.scope,
      target.fingerprints,
    ],
  );
}

/**
 * What the operation log keeps of a result: everything but the document body
 * of an applied write (it is in `documents` and the change log already), which
 * keeps the log small. A duplicate gets it back while the document is still at
 * that version (see withDocument).
 */
export function toStored(r: OperationResult): OperationResult {
  if (r.status !== 'applied' || !r.document) return r;
  const { document: _doc, ...rest } = r;
  return rest;
}

/** A stored result with the document put back, if the document is still at that version. */
export function withDocument(stored: OperationResult, loaded: Map<string, DocState>): OperationResult {
  if (stored.status !== 'applied' || stored.document !== undefined || !stored.collection || !stored.docId) return stored;
  const current = loaded.get(docKey(stored.collection, stored.docId));
  if (current && !current.deleted && current.version === stored.version) return { ...stored, document: toWire(current) };
  return stored;
}

/** The key of a record's action lock: held-action-runner.ts takes it before the row lock. */
export function actionLockKey(schema: string, collection: string, id: string): string {
  return JSON.stringify([schema, 'record', collection, id]);
}

/**
 * Inside a transaction: try-locks each record's action lock (never waits) and
 * returns the keys of records an open action holds. The locks taken are kept
 * to the end of the transaction, so no action can take those records meanwhile.
 */
export async function heldByActions(q: SqlQueryable, s: string, ops: PlannedOp[]): Promise<Set<string>> {
  const keys = new Map<string, [string, string]>();
  for (const op of ops) keys.set(docKey(op.collection, op.docId), [op.collection, op.docId]);
  const entries = [...keys.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const { rows } = await q.query<{ i: number; free: boolean }>(
    'SELECT i::integer, pg_try_advisory_xact_lock(hashtextextended(k, 0)) AS free FROM unnest($1::text[]) WITH ORDINALITY AS t(k, i) ORDER BY i',
    [entries.map(([, [c, id]]) => actionLockKey(s, c, id))],
  );
  const held = new Set<string>();
  for (const r of rows) if (!r.free) held.add((entries[r.i - 1] as [string, unknown])[0]);
  return held;
}

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
  const keys = new Map<string, [string, string]>();
  for (const op of ops) keys.set(docKey(op.collection, op.docId), [op.collection, op.docId]);
  const locking = lock === 'wait' ? 'FOR UPDATE' : lock === 'nowait' ? 'FOR UPDATE NOWAIT' : '';
  const { rows } = await q.query<ReadRow>(
    `WITH docs AS (
       SELECT collection, id, data, version, vclock, deleted FROM ${s}.documents
       WHERE (collection, id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
       ORDER BY collection, id ${locking}
     )
     SELECT true AS stored, o.fingerprint, NULL AS collection, o.id, o.result AS data, NULL::integer AS version,
            NULL::jsonb AS vclock, NULL::boolean AS deleted
     FROM ${s}.operations o WHERE o.scope = $4 AND o.id = ANY($1::text[])
     UNION ALL
     SELECT false, NULL, collection, id, data, version, vclock, deleted FROM docs`,
    [ops.map((o) => o.id), [...keys.values()].map((k) => k[0]), [...keys.values()].map((k) => k[1]), scope],
  );
  const storedById = new Map<string, StoredOperation>();
  const loaded = new Map<string, DocState>();
  for (const r of rows) {
    if (r.stored) storedById.set(r.id, { result: r.data as OperationResult, fingerprint: r.fingerprint });
    else loaded.set(docKey(r.collection, r.id), r as DocState);
  }
  return { storedById, loaded };
}

/**
 * Writes a plan's documents and the operation log in one statement that
 * re-checks every version it was planned against and aborts (retryably, SYR01)
 * if anything changed in between. `batch_written()` marks the transaction as
 * the API's, so it is sequenced by the server after commit (migrations.ts).
 * Returns the transaction id if any document was written.
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
  const inserts = new DocColumns();
  const updates = new DocColumns();
  // Sorted, so concurrent batches take row locks in the same order.
  const writes = [...plan.writes.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [key, w] of writes) (w.existed ? updates : inserts).push(w, loaded.get(key)?.version ?? 0);
  const log = {
    id: [] as string[],
    client: [] as string[],
    collection: [] as string[],
    doc: [] as string[],
    type: [] as string[],
    status: [] as string[],
    result: [] as string[],
    fingerprint: [] as string[],
  };
  ops.forEach((op, i) => {
    const r = plan.results[i] as OperationResult;
    log.id.push(op.id);
    log.fingerprint.push(target.fingerprints[i] as string);
    log.client.push(op.clientId ?? clientId);
    log.collection.push(op.collection);
    log.doc.push(op.docId);
    log.type.push(op.type);
    log.status.push(r.status);
    log.result.push(JSON.stringify(toStored(r)));
  });

  // One statement; only the parts this batch needs. Each part's row count is
  // checked by batch_written(), which aborts the statement on a race.
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  const ctes: string[] = [];
  const checks: string[] = [];
  if (inserts.size > 0) {
    ctes.push(`ins AS (
       INSERT INTO ${s}.documents (collection, id, data, version, vclock, deleted, op_id, client_id)
       SELECT * FROM unnest(${p(inserts.collection)}::text[], ${p(inserts.id)}::text[], ${p(inserts.data)}::jsonb[],
         ${p(inserts.version)}::integer[], ${p(inserts.vclock)}::jsonb[], ${p(inserts.deleted)}::boolean[],
         ${p(inserts.opId)}::text[], ${p(inserts.clientId)}::text[])
       ON CONFLICT (collection, id) DO NOTHING RETURNING 1)`);
    checks.push(`(SELECT count(*) FROM ins) = ${p(inserts.size)}`);
  }
  if (updates.size > 0) {
    ctes.push(`upd AS (
       UPDATE ${s}.documents d SET data = x.data, version = x.version, vclock = x.vclock, deleted = x.deleted,
         op_id = x.op_id, client_id = x.client_id, updated_at = now()
       FROM unnest(${p(updates.collection)}::text[], ${p(updates.id)}::text[], ${p(updates.data)}::jsonb[],
         ${p(updates.version)}::integer[], ${p(updates.vclock)}::jsonb[], ${p(updates.deleted)}::boolean[],
         ${p(updates.opId)}::text[], ${p(updates.clientId)}::text[], ${p(updates.prevVersion)}::integer[])
         AS x(collection, id, data, version, vclock, deleted, op_id, client_id, prev_version)
       WHERE d.collection = x.collection AND d.id = x.id AND d.version = x.prev_version
       RETURNING 1)`);
    checks.push(`(SELECT count(*) FROM upd) = ${p(updates.size)}`);
  }
  ctes.push(`ops AS (
     INSERT INTO ${s}.operations (scope, id, client_id, collection, doc_id, type, status, result, fingerprint)
     SELECT ${p(target.scope)}::text, * FROM unnest(${p(log.id)}::text[], ${p(log.client)}::text[], ${p(log.collection)}::text[],
       ${p(log.doc)}::text[], ${p(log.type)}::text[], ${p(log.status)}::text[], ${p(log.result)}::jsonb[], ${p(log.fingerprint)}::text[])
     ON CONFLICT (scope, id) DO NOTHING RETURNING 1)`);
  checks.push(`(SELECT count(*) FROM ops) = ${p(log.id.length)}`);
  const { rows } = await q.query<{ tx: string }>(
    `WITH ${ctes.join(', ')} SELECT ${s}.batch_written(${checks.join(' AND ')}) AS tx`,
    params,
  );
  return plan.writes.size > 0 ? rows[0]?.tx : undefined;
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

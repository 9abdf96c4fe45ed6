/**
 * Storage on PostgreSQL's dialect, over either PGlite or a `pg` pool.
 * Layout and change capture: see migrations.ts.
 */
import { randomUUID } from 'node:crypto';
import {
  type ChangesResponse,
  type CompactResponse,
  type ConflictEntry,
  type ErrorCode,
  FilterError,
  type OperationResult,
  type PushResponse,
  parseFilter,
  type QueryRequest,
  type QueryResponse,
  type StatsResponse,
  SynclineError,
  type VectorClock,
  type WireDocument,
} from '@syncline/protocol';
import { type DocState, type DocWrite, docKey, type PlannedOp, planOperations, toWire } from '../engine/plan-operations.js';
import { validateOperation } from '../engine/validate-operation.js';
import { type ChangePage, changesJson, changesResponse, readChanges } from './change-page.js';
import { compileFilter } from './filter-sql.js';
import { migrate, notifyChannel } from './migrations.js';
import { buildKeyset, decodeCursor, encodeCursor, parseSort } from './query-sort.js';
import { Sequencer } from './sequencer.js';
import type { SqlClient, SqlQueryable } from './sql-client.js';
import type { ChangesQuery, Storage, StorageLimits } from './storage.js';

/** unique_violation, serialization_failure, deadlock_detected, and our own "batch raced" (migrations.ts). */
const RETRYABLE = new Set(['23505', '40001', '40P01', 'SYR01']);
const OPTIMISTIC_ATTEMPTS = 2;
const SWEEP_INTERVAL_MS = 1000;
const MAX_ATTEMPTS = 6;
class RetryBatch extends Error {}

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
  collection: string;
  id: string;
  data: unknown;
  version: number;
  vclock: VectorClock;
  deleted: boolean;
}

export class PostgresStorage implements Storage {
  readonly adapter: 'pglite' | 'postgres';
  private readonly s: string;
  private readonly sequencer: Sequencer;

  constructor(
    private readonly db: SqlClient,
    schema: string,
    private readonly limits: StorageLimits,
  ) {
    this.adapter = db.kind;
    this.s = schema;
    this.sequencer = new Sequencer(db, schema);
  }

  /** Migrates, then sequences anything a previous run committed but did not sequence, and keeps sweeping. */
  async migrate(): Promise<number[]> {
    const applied = await migrate(this.db, this.s);
    await this.sequencer.sweep();
    this.sequencer.startSweeping(SWEEP_INTERVAL_MS);
    return applied;
  }

  async applyOperations(clientId: string, operations: unknown[]): Promise<PushResponse> {
    const results: (OperationResult | undefined)[] = new Array(operations.length);
    const valid: { index: number; op: PlannedOp }[] = [];
    operations.forEach((raw, index) => {
      const v = validateOperation(raw, index, randomUUID);
      if (v.ok) valid.push({ index, op: v.op });
      else results[index] = v.result;
    });

    for (let attempt = 1; ; attempt++) {
      try {
        // A batch of inserts first assumes that none of its documents or operation
        // ids exist (one statement; the write verifies it). Otherwise optimistic
        // (two statements, no explicit transaction); after races, lock the
        // documents in a transaction so a hot document cannot starve a batch.
        const mode =
          attempt === 1 && valid.every((v) => v.op.type === 'insert') ? 'blind' : attempt <= OPTIMISTIC_ATTEMPTS ? 'optimistic' : 'locking';
        await this.applyValid(clientId, valid, results, mode);
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        const retry = err instanceof RetryBatch || (code !== undefined && RETRYABLE.has(code));
        if (!retry || attempt >= MAX_ATTEMPTS) throw err;
      }
    }

    const final = results as OperationResult[];
    const accepted: PushResponse['accepted'] = [];
    const conflicts: PushResponse['conflicts'] = [];
    for (const { index, op } of valid) {
      const r = final[index] as OperationResult;
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
    return { accepted, conflicts, results: final };
  }

  /**
   * One attempt, in two statements: read (stored results of these operation
   * ids + the documents they touch), plan in memory, then write documents and
   * the operation log in one statement that re-checks every version it read
   * and aborts (retryably) if anything changed in between. `locking` reads
   * with row locks inside a transaction, so the check cannot fail; `blind`
   * skips the read, assuming nothing exists (the write's checks verify it).
   */
  private async applyValid(
    clientId: string,
    valid: { index: number; op: PlannedOp }[],
    results: (OperationResult | undefined)[],
    mode: 'blind' | 'optimistic' | 'locking',
  ): Promise<void> {
    if (valid.length === 0) return;
    const s = this.s;
    const locking = mode === 'locking';
    const run = async (q: SqlQueryable) => {
      const ids = valid.map((v) => v.op.id);
      const keys = new Map<string, [string, string]>();
      for (const { op } of valid) keys.set(docKey(op.collection, op.docId), [op.collection, op.docId]);
      const read = async () =>
        q.query<ReadRow>(
          `WITH docs AS (
           SELECT collection, id, data, version, vclock, deleted FROM ${s}.documents
           WHERE (collection, id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
           ORDER BY collection, id ${locking ? 'FOR UPDATE' : ''}
         )
         SELECT true AS stored, NULL AS collection, o.id, o.result AS data, NULL::integer AS version,
                NULL::jsonb AS vclock, NULL::boolean AS deleted
         FROM ${s}.operations o WHERE o.id = ANY($1::text[])
         UNION ALL
         SELECT false, collection, id, data, version, vclock, deleted FROM docs`,
          [ids, [...keys.values()].map((k) => k[0]), [...keys.values()].map((k) => k[1])],
        );
      const { rows } = mode === 'blind' ? { rows: [] as ReadRow[] } : await read();
      const storedById = new Map<string, OperationResult>();
      const loaded = new Map<string, DocState>();
      for (const r of rows) {
        if (r.stored) storedById.set(r.id, r.data as OperationResult);
        else loaded.set(docKey(r.collection, r.id), r as DocState);
      }

      // First occurrence of each unseen id is applied; repeats are duplicates of it.
      const fresh: { index: number; op: PlannedOp }[] = [];
      const firstIndex = new Map<string, number>();
      for (const v of valid) {
        if (storedById.has(v.op.id) || firstIndex.has(v.op.id)) continue;
        firstIndex.set(v.op.id, v.index);
        fresh.push(v);
      }
      const plan = planOperations(
        clientId,
        fresh.map((f) => f.op),
        loaded,
      );
      if (fresh.length === 0) return { storedById, loaded, fresh, firstIndex, plan, txid: undefined };

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
      };
      fresh.forEach((f, i) => {
        const r = plan.results[i] as OperationResult;
        log.id.push(f.op.id);
        log.client.push(f.op.clientId ?? clientId);
        log.collection.push(f.op.collection);
        log.doc.push(f.op.docId);
        log.type.push(f.op.type);
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
         INSERT INTO ${s}.operations (id, client_id, collection, doc_id, type, status, result)
         SELECT * FROM unnest(${p(log.id)}::text[], ${p(log.client)}::text[], ${p(log.collection)}::text[],
           ${p(log.doc)}::text[], ${p(log.type)}::text[], ${p(log.status)}::text[], ${p(log.result)}::jsonb[])
         ON CONFLICT (id) DO NOTHING RETURNING 1)`);
      checks.push(`(SELECT count(*) FROM ops) = ${p(log.id.length)}`);
      const { rows: written } = await q.query<{ tx: string }>(
        `WITH ${ctes.join(', ')} SELECT ${s}.batch_written(${checks.join(' AND ')}) AS tx`,
        params,
      );
      return { storedById, loaded, fresh, firstIndex, plan, txid: plan.writes.size > 0 ? written[0]?.tx : undefined };
    };
    const out = locking ? await this.db.transaction(run) : await run(this.db);

    // Committed (durable) but not yet visible to pulls: sequence it before acknowledging.
    const position = out.txid === undefined ? undefined : await this.sequencer.positionOf(out.txid);
    out.fresh.forEach((f, i) => {
      const r = out.plan.results[i] as OperationResult;
      if (r.status === 'applied' && position !== undefined) r.position = position;
      results[f.index] = r;
    });
    for (const v of valid) {
      if (results[v.index]) continue;
      const stored = out.storedById.get(v.op.id);
      const original = stored ? withDocument(stored, out.loaded) : results[out.firstIndex.get(v.op.id) ?? -1];
      if (!original) throw new RetryBatch();
      results[v.index] = duplicateOf(original);
    }
  }

  async getChanges(req: ChangesQuery): Promise<ChangesResponse> {
    return changesResponse(await this.changePage(req));
  }

  async getChangesJson(req: ChangesQuery): Promise<string> {
    return changesJson(await this.changePage(req));
  }

  private async changePage(req: ChangesQuery): Promise<ChangePage> {
    const limit = Math.min(Math.max(1, req.limit), this.limits.maxChangesLimit);
    const { page, head, horizon } = await readChanges(this.db, this.s, req.since, limit);
    if (req.since < horizon) {
      throw new SynclineError('RESYNC_REQUIRED', undefined, { since: req.since, horizon });
    }
    const hasMore = page.length > limit;
    const rows = hasMore ? page.slice(0, limit) : page;
    // A full page continues after its last change; otherwise everything up to head was seen.
    const checkpoint = hasMore ? (rows.at(-1)?.position ?? req.since) : Math.max(req.since, head);
    if (req.clientId) {
      await this.db.query(
        `INSERT INTO ${this.s}.clients (client_id, position, last_seen) VALUES ($1, $2, now())
         ON CONFLICT (client_id) DO UPDATE SET position = excluded.position, last_seen = now()`,
        [req.clientId, req.since],
      );
    }
    return { rows, checkpoint, hasMore };
  }

  async getDocument(collection: string, id: string): Promise<WireDocument | null> {
    const { rows } = await this.db.query<DocState>(
      `SELECT collection, id, data, version, vclock, deleted FROM ${this.s}.documents WHERE collection = $1 AND id = $2`,
      [collection, id],
    );
    return rows[0] ? toWire(rows[0]) : null;
  }

  async queryDocuments(collection: string, req: QueryRequest): Promise<QueryResponse> {
    let filter: ReturnType<typeof parseFilter>;
    try {
      filter = parseFilter(req.filter ?? {});
    } catch (err) {
      if (err instanceof FilterError) {
        throw new SynclineError(err.reason, `${err.path}: ${err.message}`, { path: err.path });
      }
      throw err;
    }
    const sort = parseSort(req.sort);
    const limit = Math.min(req.limit ?? this.limits.defaultQueryLimit, this.limits.maxQueryLimit);
    const params: unknown[] = [collection];
    const where = [
      `d.collection = $1`,
      'NOT d.deleted',
      compileFilter(filter, params, { data: 'd.data', id: 'd.id', version: 'd.version' }),
    ];
    const keys = sort.map((k) => k.sql(params));
    const fingerprint = JSON.stringify([collection, req.filter ?? {}, sort.map((k) => [k.path, k.dir])]);
    if (req.cursor) {
      const values = decodeCursor(req.cursor, fingerprint, sort);
      where.push(buildKeyset(keys, sort, values, params));
    }
    params.push(limit + 1);
    const s = this.s;
    const { rows } = await this.db.query<{
      id: string | null;
      version: number;
      data: Record<string, unknown>;
      head: number;
      sort_values: unknown[] | null;
    }>(
      `WITH page AS (
         SELECT d.id, d.version, d.data, jsonb_build_array(${keys.map((k) => `to_jsonb(${k})`).join(', ')}) AS sort_values,
                row_number() OVER () AS n
         FROM ${s}.documents d WHERE ${where.join(' AND ')}
         ORDER BY ${keys.map((k, i) => `${k} ${sort[i]?.dir === -1 ? 'DESC' : 'ASC'}`).join(', ')}
         LIMIT $${params.length}
       )
       SELECT page.id, page.version, page.data, page.sort_values, ${s}.head_position() AS head
       FROM (SELECT 1) one LEFT JOIN page ON true`,
      params,
    );
    const head = Number(rows[0]?.head ?? 0);
    const found = rows.filter((r) => r.id !== null);
    const more = found.length > limit;
    const pageRows = more ? found.slice(0, limit) : found;
    const documents = pageRows.map((r) => ({ _id: r.id as string, _rev: r.version, ...r.data }));
    const res: QueryResponse = { documents, count: documents.length, position: head };
    const last = pageRows.at(-1);
    if (more && last?.sort_values) res.nextCursor = encodeCursor(last.sort_values, fingerprint);
    return res;
  }

  async getStats(): Promise<StatsResponse> {
    const s = this.s;
    const [{ rows: totals }, { rows: perCollection }] = await Promise.all([
      this.db.query<{ ops: number; head: number; horizon: number; clients: number; min_client: number | null }>(
        `SELECT (SELECT count(*) FROM ${s}.operations)::bigint AS ops,
                ${s}.head_position() AS head, ${s}.horizon() AS horizon,
                (SELECT count(*) FROM ${s}.clients WHERE last_seen > now() - interval '30 days')::bigint AS clients,
                (SELECT min(position) FROM ${s}.clients WHERE last_seen > now() - interval '30 days') AS min_client`,
      ),
      this.db.query<{ collection: string; live: number; deleted: number }>(
        `SELECT collection, count(*) FILTER (WHERE NOT deleted)::bigint AS live, count(*) FILTER (WHERE deleted)::bigint AS deleted
         FROM ${s}.documents GROUP BY collection ORDER BY collection`,
      ),
    ]);
    const t = totals[0];
    let unsynced = 0;
    if (t?.min_client != null) {
      const { rows } = await this.db.query<{ n: number }>(
        `SELECT count(*)::bigint AS n FROM ${s}.commits c JOIN ${s}.changes ch ON ch.tx = c.tx
         WHERE c.last_position > $1 AND c.first_position + ch.ord - 1 > $1`,
        [t.min_client],
      );
      unsynced = Number(rows[0]?.n ?? 0);
    }
    const collections: StatsResponse['collections'] = {};
    let totalDocuments = 0;
    for (const r of perCollection) {
      collections[r.collection] = { documents: Number(r.live), deleted: Number(r.deleted) };
      totalDocuments += Number(r.live);
    }
    return {
      totalOperations: Number(t?.ops ?? 0),
      totalDocuments,
      unsyncedOperations: unsynced,
      collections,
      position: Number(t?.head ?? 0),
      horizon: Number(t?.horizon ?? 0),
      clients: Number(t?.clients ?? 0),
    };
  }

  async compact(olderThanDays: number): Promise<CompactResponse> {
    const s = this.s;
    return this.db.transaction(async (tx) => {
      // One compaction at a time; pulls keep running (they check the horizon in their own snapshot).
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${s}.compact`]);
      const cutoff = `now() - make_interval(secs => $1::double precision * 86400)`;
      const { rows: h } = await tx.query<{ h: number | null }>(
        `SELECT max(last_position) AS h FROM ${s}.commits WHERE committed_at < ${cutoff}`,
        [olderThanDays],
      );
      const horizon = h[0]?.h == null ? 0 : Number(h[0].h);
      let deletedChanges = 0;
      if (horizon > 0) {
        const del = await tx.query(`DELETE FROM ${s}.changes WHERE tx IN (SELECT tx FROM ${s}.commits WHERE last_position <= $1)`, [
          horizon,
        ]);
        deletedChanges = del.affectedRows;
        await tx.query(`DELETE FROM ${s}.commits WHERE last_position <= $1`, [horizon]);
        await tx.query(
          `INSERT INTO ${s}.meta (key, value) VALUES ('horizon', to_jsonb($1::bigint))
           ON CONFLICT (key) DO UPDATE SET value = to_jsonb(greatest((${s}.meta.value)::bigint, $1::bigint))`,
          [horizon],
        );
      }
      // Tombstones go once their delete is older than the horizon; live documents are never touched.
      const tomb = await tx.query(`DELETE FROM ${s}.documents WHERE deleted AND updated_at < ${cutoff}`, [olderThanDays]);
      const ops = await tx.query(`DELETE FROM ${s}.operations WHERE created_at < ${cutoff}`, [olderThanDays]);
      const { rows: hz } = await tx.query<{ h: number }>(`SELECT ${s}.horizon() AS h`);
      return {
        message: 'Compaction completed' as const,
        deletedCount: ops.affectedRows,
        deletedChanges,
        purgedTombstones: tomb.affectedRows,
        horizon: Number(hz[0]?.h ?? 0),
      };
    });
  }

  async currentPosition(): Promise<number> {
    const { rows } = await this.db.query<{ p: number }>(`SELECT ${this.s}.head_position() AS p`);
    return Number(rows[0]?.p ?? 0);
  }

  onCommit(listener: (position: number) => void): Promise<() => Promise<void>> {
    return this.db.listen(notifyChannel(this.s), (payload) => {
      const p = Number(payload);
      if (Number.isSafeInteger(p)) listener(p);
    });
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  close(): Promise<void> {
    this.sequencer.stopSweeping();
    return this.db.close();
  }
}

/**
 * What the operation log keeps of a result: everything but the document body
 * of an applied write (it is in `documents` and the change log already), which
 * keeps the log small. `withDocument` puts it back on a duplicate while the
 * document is still at that version.
 */
function toStored(r: OperationResult): OperationResult {
  if (r.status !== 'applied' || !r.document) return r;
  const { document: _doc, ...rest } = r;
  return rest;
}

function withDocument(stored: OperationResult, loaded: Map<string, DocState>): OperationResult {
  if (stored.status !== 'applied' || stored.document !== undefined || !stored.collection || !stored.docId) return stored;
  const current = loaded.get(docKey(stored.collection, stored.docId));
  if (current && !current.deleted && current.version === stored.version) return { ...stored, document: toWire(current) };
  return stored;
}

function duplicateOf(original: OperationResult): OperationResult {
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

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
  errorRef,
  FilterError,
  type OperationResult,
  type PushResponse,
  parseFilter,
  type QueryRequest,
  type QueryResponse,
  type StatsResponse,
  SynclineError,
  type WireDocument,
} from '@syncline/protocol';
import { type DocState, docKey, type PlannedOp, planOperations, toWire } from '../engine/plan-operations.js';
import { validateOperation } from '../engine/validate-operation.js';
import { type ActionRunner, type ActionRunnerOptions, StagedActionRunner } from './action-runner.js';
import { type ChangePage, changesJson, changesResponse, readChanges } from './change-page.js';
import { compileFilter } from './filter-sql.js';
import { HeldActionRunner } from './held-action-runner.js';
import { migrate, notifyChannel } from './migrations.js';
import { buildKeyset, decodeCursor, encodeCursor, parseSort } from './query-sort.js';
import { Sequencer } from './sequencer.js';
import type { SqlClient, SqlQueryable } from './sql-client.js';
import type { ChangesQuery, Storage, StorageLimits } from './storage.js';
import { heldByActions, readForPlan, withDocument, writePlan } from './write-statement.js';

/** lock_not_available: a row lock not granted within lock_timeout. */
const LOCK_NOT_AVAILABLE = '55P03';
/** unique_violation, serialization_failure, deadlock_detected, and our own "batch raced" (migrations.ts). */
const RETRYABLE = new Set(['23505', '40001', '40P01', 'SYR01']);
const OPTIMISTIC_ATTEMPTS = 2;
const SWEEP_INTERVAL_MS = 1000;
const MAX_ATTEMPTS = 6;
class RetryBatch extends Error {}

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

    let busy = false;
    for (let attempt = 1; ; attempt++) {
      try {
        // A batch of inserts first assumes that none of its documents or operation
        // ids exist (one statement; the write verifies it). Otherwise optimistic
        // (two statements, no explicit transaction); after races, lock the
        // documents in a transaction so a hot document cannot starve a batch.
        // (An insert with a baseVersion above 0 expects a tombstone, which blind planning cannot see.)
        const blind = attempt === 1 && valid.every((v) => v.op.type === 'insert' && !v.op.baseVersion);
        const mode = busy ? 'busy' : blind ? 'blind' : attempt <= OPTIMISTIC_ATTEMPTS ? 'optimistic' : 'locking';
        await this.applyValid(clientId, valid, results, mode);
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        // A row held past lock_timeout (e.g. by an action awaiting its FIN): go around the held records.
        if (code === LOCK_NOT_AVAILABLE) busy = true;
        const retry = err instanceof RetryBatch || (code !== undefined && (RETRYABLE.has(code) || code === LOCK_NOT_AVAILABLE));
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
   * skips the read, assuming nothing exists (the write's checks verify it);
   * `busy` is `locking` that first try-locks each record's action lock: the
   * operations on records an open action holds are answered RECORD_BUSY (not
   * logged, so the same operation can be sent again) and the others applied.
   */
  private async applyValid(
    clientId: string,
    valid: { index: number; op: PlannedOp }[],
    results: (OperationResult | undefined)[],
    mode: 'blind' | 'optimistic' | 'locking' | 'busy',
  ): Promise<void> {
    if (valid.length === 0) return;
    const s = this.s;
    const locking = mode === 'locking' || mode === 'busy';
    const run = async (q: SqlQueryable) => {
      let active = valid;
      if (mode === 'busy') {
        const held = await heldByActions(
          q,
          s,
          valid.map((v) => v.op),
        );
        active = [];
        for (const v of valid) {
          if (held.has(docKey(v.op.collection, v.op.docId))) {
            results[v.index] = {
              id: v.op.id,
              collection: v.op.collection,
              docId: v.op.docId,
              status: 'rejected',
              error: errorRef('RECORD_BUSY'),
            };
          } else active.push(v);
        }
      }
      const { storedById, loaded } =
        mode === 'blind'
          ? { storedById: new Map<string, OperationResult>(), loaded: new Map<string, DocState>() }
          : await readForPlan(
              q,
              s,
              active.map((v) => v.op),
              locking ? 'wait' : 'none',
            );

      // First occurrence of each unseen id is applied; repeats are duplicates of it.
      const fresh: { index: number; op: PlannedOp }[] = [];
      const firstIndex = new Map<string, number>();
      for (const v of active) {
        if (storedById.has(v.op.id) || firstIndex.has(v.op.id)) continue;
        firstIndex.set(v.op.id, v.index);
        fresh.push(v);
      }
      const ops = fresh.map((f) => f.op);
      const plan = planOperations(clientId, ops, loaded);
      const txid = fresh.length === 0 ? undefined : await writePlan(q, s, clientId, ops, plan, loaded);
      return { storedById, loaded, fresh, firstIndex, plan, txid };
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
      await tx.query("SELECT set_config('lock_timeout', '0', true), pg_advisory_xact_lock(hashtext($1))", [`${s}.compact`]);
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

  async createActionRunner(options: ActionRunnerOptions): Promise<ActionRunner> {
    const sequence = (txid: string) => this.sequencer.positionOf(txid);
    if (this.adapter === 'postgres' && options.databaseUrl) {
      return new HeldActionRunner({ ...options, databaseUrl: options.databaseUrl }, this.s, sequence);
    }
    // PGlite (one connection): stage, never hold a transaction (DESIGN invariant 6).
    return new StagedActionRunner({
      read: (op) => readForPlan(this.db, this.s, [op], 'none'),
      applyOperations: (clientId, ops) => this.applyOperations(clientId, ops),
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

import {
  type ChangesResponse,
  type CompactResponse,
  errorRef,
  type Filter,
  type OperationResult,
  type PushResponse,
  type QueryRequest,
  type QueryResponse,
  type StatsResponse,
  SynclineError,
  type WireDocument,
} from '@syncline/protocol';
import { type Authorize, type DocState, docKey, type Plan, planOperations, toWire } from '../engine/plan-operations.js';
import { type ActionRunner, type ActionRunnerOptions, refused, StagedActionRunner } from './action-runner.js';
import type { AppSql } from './app-sql.js';
import { type ChangePage, type ChangeRow, changesJson, changesResponse, readChanges } from './change-page.js';
import { compileFilter } from './filter-sql.js';
import { HeldActionRunner } from './held-action-runner.js';
import { migrate, notifyChannel } from './migrations.js';
import {
  asCaller,
  type Caller,
  type CallerLike,
  ClientOwners,
  fingerprintOf,
  operationScope,
  type StoredOperation,
} from './operation-scope.js';
import { installTableCapture, type PgTableInfo, pgTableDialect, uninstallTableCapture } from './pg-tables.js';
import {
  freshOps,
  parseQueryFilter,
  pushResponse,
  refuseBorrowedClients,
  repeatResult,
  splitOperations,
  type ValidOp,
} from './push-results.js';
import { buildKeyset, decodeCursor, encodeCursor, parseSort } from './query-sort.js';
import { Sequencer } from './sequencer.js';
import { quoteIdent, type SqlClient, type SqlQueryable } from './sql-client.js';
import { EXACT_COUNT_LIMIT, statsResponse } from './stats.js';
import {
  beforeHorizon,
  type ChangesQuery,
  type ClientRecord,
  COMPACT_CHUNK,
  type CommitOrigin,
  type CompactOptions,
  type MigrateOptions,
  type Storage,
  type StorageLimits,
  type TableConfig,
  type UninstalledCapture,
} from './storage.js';
import { applyTableOps, type TableDialect, type TableOp, withTableRow } from './table-writes.js';
import { type GroupEntry, type GroupOutcome, WriteGroups } from './write-group.js';
import {
  heldByActions,
  logOperations,
  readForPlan,
  readForPlans,
  type WritePart,
  type Written,
  withDocument,
  writePlans,
} from './write-statement.js';

/** lock_not_available: a row lock not granted within lock_timeout. */
const LOCK_NOT_AVAILABLE = '55P03';
/** unique_violation, serialization_failure, deadlock_detected, and our own "batch raced" (migrations.ts). */
const RETRYABLE = new Set(['23505', '40001', '40P01', 'SYR01']);
const OPTIMISTIC_ATTEMPTS = 2;
/** How often committed SQL transactions of other programs are looked for (SYNCLINE_CAPTURE_POLL_MS). */
const SWEEP_INTERVAL_MS = 10;
const MAX_ATTEMPTS = 6;
class RetryBatch extends Error {}
/**
 * Write groups in flight at once (write-group.ts). One: a group sequences itself
 * under the positions lock before it commits (migration 5), so a second one
 * would mostly wait for that lock; meanwhile the next group forms, bigger.
 */
const GROUPS_IN_FLIGHT = 1;
/**
 * How long a group's write waits for a row lock (a record held by an open
 * /sendActions action, or a transaction of another program) before it fails
 * and its requests retry alone with the full SYNCLINE_LOCK_TIMEOUT_MS: one
 * held record must not hold up every request behind its group.
 */
const GROUP_LOCK_WAIT_MS = 100;
/** Operations per write group (a bigger request is written alone). */
const GROUP_MAX_OPS = 500;

/** One attempt's read, plan and write (applyValid), with the position its transaction got. */
interface WriteAttempt {
  storedById: Map<string, StoredOperation>;
  loaded: Map<string, DocState>;
  fresh: ValidOp[];
  first: Map<string, ValidOp>;
  plan: Plan;
  /** The last position of the commit. */
  position?: number | undefined;
  /** Each document's position (by docKey), when the write sequenced itself. */
  positions?: Map<string, number> | undefined;
}

/** A request's attempt waiting for a write group. */
interface GroupedWrite extends GroupEntry {
  caller: Caller;
  scope: string;
  valid: ValidOp[];
  mode: 'blind' | 'optimistic';
  authorize: Authorize | undefined;
}

/** A request's keys for write-group.ts: its documents and its operation ids (in its scope). */
function groupKeys(scope: string, valid: ValidOp[]): string[] {
  const keys: string[] = [];
  for (const v of valid) keys.push(docKey(v.op.collection, v.op.docId), `\u0001${scope}\u0001${v.op.id}`);
  return keys;
}

export class PostgresStorage implements Storage {
  readonly adapter: 'pglite' | 'postgres';
  tableCollections: ReadonlySet<string> = new Set();
  private readonly s: string;
  private readonly sequencer: Sequencer;
  private readonly groups = new WriteGroups<GroupedWrite, WriteAttempt>((entries) => this.writeGroup(entries), {
    maxInFlight: GROUPS_IN_FLIGHT,
    maxSize: GROUP_MAX_OPS,
  });

  /** Table collections (TABLE_NAMES), introspected and captured by `migrate()`. */
  private tables = new Map<string, PgTableInfo>();
  private readonly tableDialect: TableDialect<SqlQueryable>;
  /** Who owns which client id (operation-scope.ts). */
  private readonly owners: ClientOwners;

  constructor(
    private readonly db: SqlClient,
    schema: string,
    private readonly limits: StorageLimits,
    private readonly tableConfig: TableConfig = { names: [], schema: 'public' },
    private readonly options: { sweepIntervalMs?: number } = {},
  ) {
    this.adapter = db.kind;
    this.s = schema;
    this.sequencer = new Sequencer(db, schema);
    this.tableDialect = pgTableDialect(schema);
    this.owners = new ClientOwners(async (clientId, owner) => {
      // A row inserted concurrently, after this statement's snapshot, is seen by the next attempt.
      for (let attempt = 1; ; attempt++) {
        const { rows } = await this.db.query<{ owner: string }>(
          `WITH ins AS (
             INSERT INTO ${this.s}.client_owners (client_id, owner) VALUES ($1, $2) ON CONFLICT (client_id) DO NOTHING RETURNING owner
           )
           SELECT owner FROM ins UNION ALL SELECT owner FROM ${this.s}.client_owners WHERE client_id = $1`,
          [clientId, owner],
        );
        if (rows[0]) return rows[0].owner;
        if (attempt >= MAX_ATTEMPTS) throw new Error(`client_owners: no owner recorded for ${clientId}`);
      }
    });
  }

  /** The SQL schema holding Syncline's tables. */
  get schemaName(): string {
    return this.s;
  }

  /** Migrates, then sequences anything a previous run committed but did not sequence, and keeps sweeping. */
  async migrate(options: MigrateOptions = {}): Promise<number[]> {
    const applied = await migrate(this.db, this.s);
    await options.app?.(this.appSql());
    this.tables = await installTableCapture(this.db, this.s, this.tableConfig);
    this.tableCollections = new Set(this.tables.keys());
    await this.sequencer.sweep();
    this.sequencer.startSweeping(this.options.sweepIntervalMs ?? SWEEP_INTERVAL_MS);
    return applied;
  }

  uninstallCapture(): Promise<UninstalledCapture> {
    return uninstallTableCapture(this.db, this.s);
  }

  /** `fingerprints`: the staged action runner's, of each action as the client sent it (operation-scope.ts). */
  async applyOperations(
    callerLike: CallerLike,
    operations: unknown[],
    authorize?: Authorize,
    fingerprints?: readonly (string | undefined)[],
  ): Promise<PushResponse> {
    const caller = asCaller(callerLike);
    await this.owners.check(caller);
    const split = splitOperations(operations, (c) => this.tables.has(c), fingerprints);
    await refuseBorrowedClients(split, caller, this.owners);
    const { results, valid, tableOps } = split;
    // A batch that mixes both commits table rows first, then documents (two transactions).
    if (tableOps.length > 0) await this.applyTableBatch(caller, tableOps, results, authorize);

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
        await this.applyValid(caller, valid, results, mode, authorize, attempt <= OPTIMISTIC_ATTEMPTS);
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        // A row held past lock_timeout (e.g. by an action awaiting its FIN): go around the held records.
        if (code === LOCK_NOT_AVAILABLE) busy = true;
        const retry = err instanceof RetryBatch || (code !== undefined && (RETRYABLE.has(code) || code === LOCK_NOT_AVAILABLE));
        if (!retry || attempt >= MAX_ATTEMPTS) throw err;
      }
    }

    return pushResponse(
      [...valid, ...tableOps].sort((a, b) => a.index - b.index),
      results as OperationResult[],
    );
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
   * `grouped`: a `blind` or `optimistic` attempt shares its read, write
   * statement and sequencing pass with concurrent requests (write-group.ts).
   */
  private async applyValid(
    caller: Caller,
    valid: ValidOp[],
    results: (OperationResult | undefined)[],
    mode: 'blind' | 'optimistic' | 'locking' | 'busy',
    authorize: Authorize | undefined,
    grouped: boolean,
  ): Promise<void> {
    if (valid.length === 0) return;
    const scope = operationScope(caller);
    const out =
      grouped && (mode === 'blind' || mode === 'optimistic')
        ? await this.groups.submit({ caller, scope, valid, mode, authorize, keys: groupKeys(scope, valid), size: valid.length })
        : await this.writeAlone(caller, scope, valid, results, mode, authorize);

    out.fresh.forEach((f, i) => {
      const r = out.plan.results[i] as OperationResult;
      if (r.status === 'applied') {
        const position = out.positions?.get(docKey(f.op.collection, f.op.docId)) ?? out.position;
        if (position !== undefined) r.position = position;
      }
      results[f.index] = r;
    });
    for (const v of valid) {
      if (results[v.index]) continue;
      const first = out.first.get(v.op.id);
      const original = out.storedById.get(v.op.id) ?? (first && { result: results[first.index], fingerprint: first.fingerprint });
      const r = repeatResult(v, original, (stored) => withDocument(stored, out.loaded));
      if (!r) throw new RetryBatch();
      results[v.index] = r;
    }
  }

  /** An attempt of one request on its own (see applyValid). */
  private async writeAlone(
    caller: Caller,
    scope: string,
    valid: ValidOp[],
    results: (OperationResult | undefined)[],
    mode: 'blind' | 'optimistic' | 'locking' | 'busy',
    authorize?: Authorize,
  ): Promise<WriteAttempt> {
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
          ? { storedById: new Map<string, StoredOperation>(), loaded: new Map<string, DocState>() }
          : await readForPlan(
              q,
              s,
              scope,
              active.map((v) => v.op),
              locking ? 'wait' : 'none',
            );

      const { fresh, first } = freshOps(active, storedById);
      const ops = fresh.map((f) => f.op);
      const plan = planOperations(caller.clientId, ops, loaded, authorize);
      const target = { scope, fingerprints: fresh.map((f) => f.fingerprint) };
      // Autocommit: the write sequences itself before it commits; in a transaction it cannot (migration 5).
      const written =
        fresh.length === 0
          ? undefined
          : await writePlans(q, s, [{ clientId: caller.clientId, target, ops, plan }], loaded, { sequence: !locking });
      return { storedById, loaded, fresh, first, plan, written };
    };
    const { written, ...out } = locking ? await this.db.transaction(run) : await run(this.db);
    return { ...out, ...(await this.positionsAfterCommit(written)) };
  }

  /**
   * A committed write's positions: each document's, if it sequenced itself;
   * else it is sequenced now (before acknowledging) and its commit's last position is all there is.
   */
  private async positionsAfterCommit(written: Written | undefined): Promise<Pick<WriteAttempt, 'position' | 'positions'>> {
    if (written === undefined) return {};
    if (written.positions) {
      const last = Math.max(...written.positions.values());
      this.sequencer.ownCommit(last);
      return { position: last, positions: written.positions };
    }
    return { position: await this.sequencer.positionOf(written.tx) };
  }

  /**
   * A write group (write-group.ts): one read for the requests that need one,
   * each request planned on its own (its caller, rules, operation log scope),
   * one write statement for all, one sequencing pass. A failed write fails
   * the group; its requests then retry alone, so one request's bad value or
   * race costs the others a retry, never their result.
   */
  private async writeGroup(entries: GroupedWrite[]): Promise<GroupOutcome<WriteAttempt>[]> {
    const s = this.s;
    const reading = entries.filter((e) => e.mode !== 'blind');
    const read =
      reading.length === 0
        ? undefined
        : await readForPlans(
            this.db,
            s,
            reading.map((e) => ({ scope: e.scope, ops: e.valid.map((v) => v.op) })),
            'none',
          );
    const planned: (GroupOutcome<Omit<WriteAttempt, 'position'>> & { part?: WritePart })[] = entries.map((e) => {
      try {
        const storedById = (e.mode === 'blind' ? undefined : read?.stored.get(e.scope)) ?? new Map<string, StoredOperation>();
        const loaded = new Map<string, DocState>();
        if (read) {
          for (const v of e.valid) {
            const key = docKey(v.op.collection, v.op.docId);
            const doc = read.loaded.get(key);
            if (doc) loaded.set(key, doc);
          }
        }
        const { fresh, first } = freshOps(e.valid, storedById);
        const ops = fresh.map((f) => f.op);
        const plan = planOperations(e.caller.clientId, ops, loaded, e.authorize);
        const target = { scope: e.scope, fingerprints: fresh.map((f) => f.fingerprint) };
        const value = { storedById, loaded, fresh, first, plan };
        return fresh.length === 0 ? { ok: true, value } : { ok: true, value, part: { clientId: e.caller.clientId, target, ops, plan } };
      } catch (error) {
        return { ok: false, error };
      }
    });
    const parts = planned.flatMap((p) => (p.part ? [p.part] : []));
    let written: Awaited<ReturnType<typeof writePlans>>;
    try {
      written =
        parts.length === 0
          ? undefined
          : await writePlans(this.db, s, parts, read?.loaded ?? new Map(), { sequence: true, lockWaitMs: GROUP_LOCK_WAIT_MS });
    } catch (err) {
      const code = (err as { code?: string }).code;
      // Nothing was written. A race is retried by each request anyway; another
      // error may be one request's (a value the database refuses): each retries alone.
      const retryable = code !== undefined && (RETRYABLE.has(code) || code === LOCK_NOT_AVAILABLE);
      if (parts.length === 1 || retryable) throw err;
      return entries.map(() => ({ ok: false, error: new RetryBatch() }));
    }
    const positions = await this.positionsAfterCommit(written);
    return planned.map((p) => (p.ok ? { ok: true, value: { ...p.value, ...positions } } : p));
  }

  /**
   * Operations on table collections: one transaction; each fresh operation is
   * a statement on the table in its own savepoint (table-writes.ts), then
   * every result goes to the operation log. A concurrent duplicate of an id
   * makes the log insert fail (unique), and the retry answers `duplicate`.
   */
  private async applyTableBatch(caller: Caller, ops: ValidOp<TableOp>[], results: (OperationResult | undefined)[], authorize?: Authorize) {
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await this.db.transaction((tx) =>
          this.writeTableOps(
            tx,
            caller,
            ops.map((o, index) => ({ ...o, index })),
            authorize,
          ),
        );
        const position = out.txid === undefined ? undefined : await this.sequencer.positionOf(out.txid);
        ops.forEach((o, i) => {
          const r = out.results[i] as OperationResult;
          if (r.status === 'applied' && position !== undefined) r.position = position;
          results[o.index] = r;
        });
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (!(code !== undefined && RETRYABLE.has(code)) || attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * Inside a transaction: the caller's stored results of known ids, fresh ones applied and logged.
   * Also used by held actions. `ops[i].index` must be `i`.
   */
  async writeTableOps(
    q: SqlQueryable,
    caller: Caller,
    ops: ValidOp<TableOp>[],
    authorize?: Authorize,
  ): Promise<{ results: OperationResult[]; txid?: string }> {
    const scope = operationScope(caller);
    const { rows } = await q.query<{ id: string; result: OperationResult; fingerprint: string | null }>(
      `SELECT id, result, fingerprint FROM ${this.s}.operations WHERE scope = $1 AND id = ANY ($2::text[])`,
      [scope, ops.map((o) => o.op.id)],
    );
    const stored = new Map(rows.map((r) => [r.id, { result: r.result, fingerprint: r.fingerprint }]));
    const { fresh, first } = freshOps(ops, stored);
    const freshOpList = fresh.map((f) => f.op);
    const applied = await applyTableOps(q, this.tableDialect, this.tables, caller.clientId, freshOpList, authorize);
    const own = new Map(fresh.map((f, i) => [f.index, applied.results[i] as OperationResult]));
    if (fresh.length > 0) {
      const target = { scope, fingerprints: fresh.map((f) => f.fingerprint) };
      await logOperations(q, this.s, caller.clientId, target, freshOpList, applied.results);
    }
    let txid: string | undefined;
    if (applied.wrote) {
      const { rows: t } = await q.query<{ tx: string }>('SELECT pg_current_xact_id()::text AS tx');
      txid = t[0]?.tx;
    }
    const results = ops.map((v) => {
      const mine = own.get(v.index);
      if (mine) return mine;
      const f = first.get(v.op.id);
      return repeatResult(v, stored.get(v.op.id) ?? (f && { result: own.get(f.index), fingerprint: f.fingerprint })) as OperationResult;
    });
    return txid === undefined ? { results } : { results, txid };
  }

  async getChanges(req: ChangesQuery): Promise<ChangesResponse> {
    return changesResponse(await this.changePage(req));
  }

  async getChangesJson(req: ChangesQuery): Promise<string> {
    return changesJson(await this.changePage(req));
  }

  private async changePage(req: ChangesQuery): Promise<ChangePage> {
    const limit = Math.min(Math.max(1, req.limit), this.limits.maxChangesLimit);
    // Another user's client id is refused before anything is read (and its position is not recorded).
    if (req.clientId) await this.owners.check({ clientId: req.clientId, userId: req.userId ?? null });
    // Whatever other programs committed before this pull is in it (they leave sequencing to us).
    if (req.sweep !== false) await this.sequencer.sweep();
    const { page, head, horizon } = await readChanges(this.db, this.s, req.since, limit);
    if (req.since < horizon) {
      throw new SynclineError('RESYNC_REQUIRED', undefined, { since: req.since, horizon });
    }
    const hasMore = page.length > limit;
    const sliced = hasMore ? page.slice(0, limit) : page;
    // A full page continues after its last change; otherwise everything up to head was seen.
    const checkpoint = hasMore ? (sliced.at(-1)?.position ?? req.since) : Math.max(req.since, head);
    const rows = await this.readInsertedRows(sliced);
    if (req.clientId) {
      await this.db.query(
        `INSERT INTO ${this.s}.clients (client_id, position, last_seen) VALUES ($1, $2, now())
         ON CONFLICT (client_id) DO UPDATE SET position = excluded.position, last_seen = now()`,
        [req.clientId, req.since],
      );
    }
    return { rows, checkpoint, hasMore };
  }

  /**
   * Inserts into tables are logged without their rows (migration 2): read them
   * from the tables now, as they are at this moment (a later change of the row
   * is also in the log, after this one). A row deleted since is skipped: its
   * delete follows in the log.
   */
  private async readInsertedRows(rows: ChangeRow[]): Promise<ChangeRow[]> {
    const lazy = new Map<string, ChangeRow[]>();
    for (const r of rows) {
      if (r.type !== 'insert' || r.data !== null) continue;
      const list = lazy.get(r.collection) ?? [];
      list.push(r);
      lazy.set(r.collection, list);
    }
    if (lazy.size === 0) return rows;
    const gone = new Set<ChangeRow>();
    for (const [collection, list] of lazy) {
      const table = this.tables.get(collection);
      // A table no longer listed is not synced any more: its rows are not read.
      if (!table) {
        for (const r of list) gone.add(r);
        continue;
      }
      const pk = quoteIdent(table.pk);
      const { rows: found } = await this.db.query<{ id: string; data: string; version: number }>(
        `SELECT t.${pk}::text AS id, to_jsonb(t.*)::text AS data, coalesce(v.version, 1) AS version
         FROM ${table.qualified} t LEFT JOIN ${this.s}.row_versions v ON v.collection = $1 AND v.id = t.${pk}::text
         WHERE t.${pk} = ANY ($2::${(table.columns.get(table.pk) as { type: string }).type}[])`,
        [collection, [...new Set(list.map((r) => r.doc_id))]],
      );
      const byId = new Map(found.map((f) => [f.id, f]));
      for (const r of list) {
        const f = byId.get(r.doc_id);
        if (!f) gone.add(r);
        else {
          r.data = f.data;
          r.version = Number(f.version);
        }
      }
    }
    return gone.size === 0 ? rows : rows.filter((r) => !gone.has(r));
  }

  async getDocument(collection: string, id: string): Promise<WireDocument | null> {
    const table = this.tables.get(collection);
    if (table) {
      if (table.pkKind === 'integer' && !/^-?\d{1,18}$/.test(id)) return null;
      const row = await this.tableDialect.readRow(this.db, table, id, false);
      return row ? { ...row.data, _id: id, _rev: row.version } : null;
    }
    const { rows } = await this.db.query<DocState>(
      `SELECT collection, id, data, version, vclock, deleted FROM ${this.s}.documents WHERE collection = $1 AND id = $2`,
      [collection, id],
    );
    return rows[0] ? toWire(rows[0]) : null;
  }

  async queryDocuments(collection: string, req: QueryRequest): Promise<QueryResponse> {
    const filter = parseQueryFilter(req.filter);
    const sort = parseSort(req.sort);
    const limit = Math.min(req.limit ?? this.limits.defaultQueryLimit, this.limits.maxQueryLimit);
    const params: unknown[] = [collection];
    const table = this.tables.get(collection);
    // A table is read through the same shape as documents: (id, data, version).
    const source = table
      ? `(SELECT t.${quoteIdent(table.pk)}::text AS id, to_jsonb(t.*) AS data, coalesce(v.version, 1) AS version
          FROM ${table.qualified} t LEFT JOIN ${this.s}.row_versions v ON v.collection = $1 AND v.id = t.${quoteIdent(table.pk)}::text) d`
      : `${this.s}.documents d`;
    const where = [
      table ? 'true' : `d.collection = $1`,
      table ? 'true' : 'NOT d.deleted',
      compileFilter(filter, params, { data: 'd.data', id: 'd.id', version: 'd.version' }),
    ];
    // Top-level equalities again, in a form an expression index on (collection, (data -> 'field'), id) can
    // serve (the filter's own form is wrapped for NOT): a scoped client's pages then read only matching rows.
    if (!table) where.push(...indexableEqualities(filter, params));
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
         FROM ${source} WHERE ${where.join(' AND ')}
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
    const documents = pageRows.map((r) => ({ ...r.data, _id: r.id as string, _rev: r.version }));
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
        `SELECT coalesce(sum(coalesce(cardinality(ch.ids), 1)), 0)::bigint AS n FROM ${s}.commits c JOIN ${s}.changes ch ON ch.tx = c.tx
         WHERE c.last_position > $1 AND c.first_position + ch.ord - 1 > $1`,
        [t.min_client],
      );
      unsynced = Number(rows[0]?.n ?? 0);
    }
    return statsResponse({
      ops: t?.ops,
      head: t?.head,
      horizon: t?.horizon,
      clients: t?.clients,
      unsynced,
      collections: [...perCollection, ...(await this.tableCounts())],
    });
  }

  /** Rows of each table collection: exact below EXACT_COUNT_LIMIT (by pg_class's estimate), else the estimate. */
  private async tableCounts(): Promise<{ collection: string; live: number; deleted: number }[]> {
    if (this.tables.size === 0) return [];
    const params: unknown[] = [];
    const parts = [...this.tables.values()].map((t) => {
      params.push(t.collection, t.oid);
      const c = `$${params.length - 1}::text`;
      return `SELECT ${c} AS collection, CASE WHEN e.n > ${EXACT_COUNT_LIMIT} THEN e.n ELSE (SELECT count(*) FROM ${t.qualified}) END AS live
              FROM (SELECT reltuples::bigint AS n FROM pg_class WHERE oid = $${params.length}::oid) e`;
    });
    const { rows } = await this.db.query<{ collection: string; live: number }>(parts.join(' UNION ALL '), params);
    return rows.map((r) => ({ collection: r.collection, live: Number(r.live), deleted: 0 }));
  }

  appSql(): AppSql {
    const db = this.db;
    return {
      dialect: 'postgres',
      query: (sql, params) => db.query(sql, params),
      exec: (script) => db.exec(script),
      table: (name) => `${this.s}.${quoteIdent(name)}`,
      exclusive: (lock, fn) =>
        db.transaction(async (tx) => {
          // Waits for another instance's turn whatever lock_timeout says; a long migration may outlast statement_timeout.
          await tx.query(
            "SELECT set_config('lock_timeout', '0', true), set_config('statement_timeout', '0', true), pg_advisory_xact_lock(hashtext($1))",
            [`${this.s}.${lock}`],
          );
          return fn(tx);
        }),
    };
  }

  /**
   * The horizon is raised first, in its own transaction: from its commit on, a
   * pull below it gets RESYNC_REQUIRED and a pull at or above it never reads a
   * commit under it, so the rows under it are deleted in bounded chunks (each its
   * own statement) while everything keeps running. Two compactions at once are
   * harmless (the horizon only grows; each chunk deletes what is still there).
   */
  async compact(olderThanDays: number, options: CompactOptions = {}): Promise<CompactResponse> {
    const s = this.s;
    const chunk = Math.max(1, Math.floor(options.chunkSize ?? COMPACT_CHUNK));
    // One cutoff for every step, so the counts and the deletes agree.
    const { rows: cut } = await this.db.query<{ cutoff: string }>(
      `SELECT (now() - make_interval(secs => $1::double precision * 86400))::text AS cutoff`,
      [olderThanDays],
    );
    const cutoff = cut[0]?.cutoff as string;
    const horizon = await this.db.transaction(async (tx) => {
      await tx.query("SELECT set_config('lock_timeout', '0', true), pg_advisory_xact_lock(hashtext($1))", [`${s}.compact`]);
      const { rows: h } = await tx.query<{ h: number | null }>(
        `SELECT max(last_position) AS h FROM ${s}.commits WHERE committed_at < $1::timestamptz`,
        [cutoff],
      );
      const found = h[0]?.h == null ? 0 : Number(h[0].h);
      if (found > 0) {
        await tx.query(
          `INSERT INTO ${s}.meta (key, value) VALUES ('horizon', to_jsonb($1::bigint))
           ON CONFLICT (key) DO UPDATE SET value = to_jsonb(greatest((${s}.meta.value)::bigint, $1::bigint))`,
          [found],
        );
      }
      return found;
    });
    const under = `SELECT tx FROM ${s}.commits WHERE last_position <= $1`;
    const { rows: counts } = await this.db.query<{ changes: number; tombstones: number; ops: number }>(
      `SELECT (SELECT count(*) FROM ${s}.changes WHERE tx IN (${under}))::int AS changes,
              (SELECT count(*) FROM ${s}.documents WHERE deleted AND updated_at < $2::timestamptz)::int AS tombstones,
              (SELECT count(*) FROM ${s}.operations WHERE created_at < $2::timestamptz)::int AS ops`,
      [horizon, cutoff],
    );
    const total = Number(counts[0]?.changes ?? 0) + Number(counts[0]?.tombstones ?? 0) + Number(counts[0]?.ops ?? 0);
    let done = 0;
    const chunked = async (sql: string, params: unknown[]): Promise<number> => {
      let deleted = 0;
      for (;;) {
        const { affectedRows } = await this.db.query(sql, [...params, chunk]);
        deleted += affectedRows;
        done += affectedRows;
        options.onProgress?.(done, Math.max(done, total));
        if (affectedRows < chunk) return deleted;
      }
    };
    let deletedChanges = 0;
    if (horizon > 0) {
      deletedChanges = await chunked(
        `DELETE FROM ${s}.changes WHERE (tx, ord) IN (SELECT tx, ord FROM ${s}.changes WHERE tx IN (${under}) LIMIT $2)`,
        [horizon],
      );
      // Commits go after their changes: a commit row is what makes its changes readable.
      for (;;) {
        const { affectedRows } = await this.db.query(
          `DELETE FROM ${s}.commits WHERE tx IN (SELECT tx FROM ${s}.commits WHERE last_position <= $1 LIMIT $2)`,
          [horizon, chunk],
        );
        if (affectedRows < chunk) break;
      }
    }
    // Tombstones go once their delete is older than the cutoff; live documents are never touched.
    const purgedTombstones = await chunked(
      `DELETE FROM ${s}.documents WHERE (collection, id) IN
         (SELECT collection, id FROM ${s}.documents WHERE deleted AND updated_at < $1::timestamptz LIMIT $2)`,
      [cutoff],
    );
    const deletedCount = await chunked(
      `DELETE FROM ${s}.operations WHERE (scope, id) IN (SELECT scope, id FROM ${s}.operations WHERE created_at < $1::timestamptz LIMIT $2)`,
      [cutoff],
    );
    const { rows: hz } = await this.db.query<{ h: number }>(`SELECT ${s}.horizon() AS h`);
    return {
      message: 'Compaction completed' as const,
      deletedCount,
      deletedChanges,
      purgedTombstones,
      horizon: Number(hz[0]?.h ?? 0),
    };
  }

  async positionAtTime(ms: number): Promise<number> {
    // Commits are sequenced in order at clock_timestamp(): the first at or after `ms` starts the answer (indexed).
    // A change's `timestamp` is its commit time rounded to the ms (change-page.ts): compare the same way.
    const { rows } = await this.db.query<{ p: string | null; h: string }>(
      `SELECT (SELECT min(first_position) FROM ${this.s}.commits
                WHERE committed_at >= to_timestamp(($1::double precision - 0.5) / 1000)) AS p, ${this.s}.horizon() AS h`,
      [ms],
    );
    if (rows[0]?.p == null) return this.currentPosition();
    return beforeHorizon(Number(rows[0].p) - 1, Number(rows[0].h));
  }

  async currentPosition(): Promise<number> {
    await this.sequencer.sweep();
    const { rows } = await this.db.query<{ p: number }>(`SELECT ${this.s}.head_position() AS p`);
    return Number(rows[0]?.p ?? 0);
  }

  async onCommit(listener: (position: number, origin: CommitOrigin) => void, options?: { local?: boolean }): Promise<() => Promise<void>> {
    const offLocal = options?.local ? this.sequencer.onSequenced(listener) : () => {};
    const unlisten = await this.db.listen(notifyChannel(this.s), (payload) => {
      const p = Number(payload);
      if (Number.isSafeInteger(p)) listener(p, 'hint');
    });
    return async () => {
      offLocal();
      await unlisten();
    };
  }

  async createActionRunner(options: ActionRunnerOptions): Promise<ActionRunner> {
    const runner = await this.createRunner(options);
    // An action creating a table row without an id gets its key drawn now, so the
    // ACK names the row's real id whether the write happens now (held) or at FIN (staged).
    return {
      mode: runner.mode,
      begin: async (caller, op, authorize) => {
        const taken = await this.owners.refusal(caller);
        if (taken) return refused(op, taken);
        // Of the action as sent: a drawn key is not part of it (a retry draws another).
        const fingerprint = fingerprintOf(op);
        const table = this.tables.get(op.collection);
        if (table && op.type === 'insert' && op.idGiven === false)
          op = { ...op, docId: await this.drawKey(table, op.docId), idGiven: true };
        return runner.begin(caller, op, authorize, fingerprint);
      },
      close: () => runner.close(),
    };
  }

  /** A fresh key for a table row: the next value of its serial/identity sequence, else the generated text id. */
  private async drawKey(table: PgTableInfo, generated: string): Promise<string> {
    if (table.pkKind === 'text') return generated;
    const { rows } = await this.db.query<{ k: string | null }>(`SELECT nextval(pg_get_serial_sequence($1, $2))::text AS k`, [
      table.qualified,
      // The table argument is parsed as SQL (hence quoted); the column is taken literally.
      table.pk,
    ]);
    return rows[0]?.k ?? generated;
  }

  private async createRunner(options: ActionRunnerOptions): Promise<ActionRunner> {
    const sequence = (txid: string) => this.sequencer.positionOf(txid);
    if (options.mode === 'held' && this.adapter === 'postgres' && options.databaseUrl) {
      return new HeldActionRunner({ ...options, databaseUrl: options.databaseUrl }, this.s, sequence, {
        has: (collection) => this.tables.has(collection),
        write: (q, caller, op, fingerprint, authorize) =>
          this.writeTableOps(q, asCaller(caller), [{ index: 0, op: { ...op, idGiven: true }, fingerprint }], authorize),
      });
    }
    // PGlite (one connection): stage, never hold a transaction (DESIGN invariant 6).
    return new StagedActionRunner({
      read: async (caller, op) => {
        const input = await readForPlan(this.db, this.s, operationScope(caller), [op], 'none');
        const table = this.tables.get(op.collection);
        return table ? withTableRow(input, this.db, this.tableDialect, table, op) : input;
      },
      applyOperations: (caller, ops, authorize, fingerprints) => this.applyOperations(caller, ops, authorize, fingerprints),
    });
  }

  async listClients(limit: number): Promise<ClientRecord[]> {
    const { rows } = await this.db.query<{ client_id: string; position: string | number; seen: number }>(
      `SELECT client_id, position, (extract(epoch FROM last_seen) * 1000)::float8 AS seen
       FROM ${this.s}.clients ORDER BY last_seen DESC LIMIT $1`,
      [Math.max(0, Math.trunc(limit))],
    );
    return rows.map((r) => ({ clientId: r.client_id, position: Number(r.position), lastSeen: Math.round(Number(r.seen)) }));
  }

  async findRow(table: string, column: string, value: string): Promise<Record<string, unknown> | null> {
    // In the tables' schema; `=` on the column itself so its index is used. A token the
    // column's type cannot hold (text into an integer column) matches nothing.
    try {
      const { rows } = await this.db.query(
        `SELECT * FROM ${quoteIdent(this.tableConfig.schema)}.${quoteIdent(table)} WHERE ${quoteIdent(column)} = $1 LIMIT 1`,
        [value],
      );
      return rows[0] ?? null;
    } catch (err) {
      if (String((err as { code?: unknown }).code ?? '').startsWith('22')) return null;
      throw err;
    }
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
 * `d.data -> 'f' = $v::jsonb` for each top-level `{f: literal}` / `{f: {$eq: literal}}` on a string, number or
 * boolean (implied by the filter, so the result is the same): usable by an index on `(collection, (data -> 'f'), id)`.
 */
function indexableEqualities(filter: Filter | undefined, params: unknown[]): string[] {
  const out: string[] = [];
  if (!filter) return out;
  const prim = (v: unknown): boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
  for (const [field, cond] of Object.entries(filter)) {
    if (field.startsWith('$') || field === '_id' || field === '_rev' || field.includes('.')) continue;
    let value: unknown;
    if (prim(cond)) value = cond;
    else if (
      cond &&
      typeof cond === 'object' &&
      !Array.isArray(cond) &&
      Object.keys(cond).length === 1 &&
      prim((cond as { $eq?: unknown }).$eq)
    ) {
      value = (cond as { $eq: unknown }).$eq;
    } else continue;
    params.push(field, JSON.stringify(value));
    out.push(`d.data -> $${params.length - 1}::text = $${params.length}::jsonb`);
  }
  return out;
}

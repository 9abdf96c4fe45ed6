import {
  type ChangesResponse,
  type CompactResponse,
  errorRef,
  type OperationResult,
  type PushResponse,
  type QueryRequest,
  type QueryResponse,
  type StatsResponse,
  SynclineError,
  type WireDocument,
} from '@syncline/protocol';
import { type Authorize, type DocState, docKey, type PlannedOp, planOperations, toWire } from '../../engine/plan-operations.js';
import { type ActionRunner, type ActionRunnerOptions, refused, StagedActionRunner } from '../action-runner.js';
import { type AppQueryable, type AppSql, splitMysqlScript, toMysqlPlaceholders } from '../app-sql.js';
import { type ChangePage, type ChangeRow, changesJson, changesResponse } from '../change-page.js';
import {
  asCaller,
  type Caller,
  type CallerLike,
  ClientOwners,
  fingerprintOf,
  operationScope,
  type StoredOperation,
} from '../operation-scope.js';
import {
  freshOps,
  parseQueryFilter,
  pushResponse,
  refuseBorrowedClients,
  repeatResult,
  splitOperations,
  type ValidOp,
} from '../push-results.js';
import { decodeCursor, encodeCursor, parseSort, type SortKey } from '../query-sort.js';
import { EXACT_COUNT_LIMIT, statsResponse } from '../stats.js';
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
  type UninstalledCapture,
} from '../storage.js';
import { applyTableOps, type TableDialect, type TableOp, withTableRow } from '../table-writes.js';
import { type PlanInput, toStored, withDocument } from '../write-statement.js';
import type { MysqlClient, MysqlQueryable } from './mysql-client.js';
import { ChangeConsumer } from './mysql-consumer.js';
import { compileMysqlFilter } from './mysql-filter.js';
import { lockName, type MysqlNames, migrateMysql, quoteId, tableOf } from './mysql-migrations.js';
import { mysqlKeyset, mysqlSortKeys } from './mysql-sort.js';
import { installMysqlTableCapture, type MysqlTableInfo, mysqlTableDialect, rowJson, uninstallMysqlTableCapture } from './mysql-tables.js';

/** ER_DUP_ENTRY (a concurrent insert of the same key or op id), ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK. */
const RETRYABLE = new Set([1062, 1205, 1213]);
const MAX_ATTEMPTS = 6;
class RetryBatch extends Error {}

export interface MysqlStorageOptions {
  names: MysqlNames;
  limits: StorageLimits;
  /** How often the target table is polled (MYSQL_POLL_INTERVAL_MS). */
  pollIntervalMs: number;
  /** TABLE_NAMES: existing tables of the database synced as collections (mysql-tables.ts). */
  tables?: readonly string[];
}

interface DocRow {
  collection: string;
  id: string;
  data: string;
  version: number;
  vclock: string;
  deleted: number;
}

type ChangeDbRow = ChangeRow;

const parseJson = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

const toDocState = (r: DocRow): DocState => ({
  collection: r.collection,
  id: r.id,
  data: parseJson(r.data) as Record<string, unknown>,
  version: Number(r.version),
  vclock: parseJson(r.vclock) as DocState['vclock'],
  deleted: Boolean(Number(r.deleted)),
});

export class MysqlStorage implements Storage {
  readonly adapter = 'mysql' as const;
  tableCollections: ReadonlySet<string> = new Set();
  private readonly consumer: ChangeConsumer;
  private readonly t: (name: string) => string;
  /** Table collections (TABLE_NAMES), introspected and captured by `migrate()`. */
  private tables = new Map<string, MysqlTableInfo>();
  private readonly tableDialect: TableDialect<MysqlQueryable>;
  /** Who owns which client id (operation-scope.ts). */
  private readonly owners: ClientOwners;

  constructor(
    private readonly db: MysqlClient,
    private readonly opts: MysqlStorageOptions,
  ) {
    this.consumer = new ChangeConsumer(db, opts.names);
    this.t = (name) => tableOf(opts.names.prefix, name);
    this.tableDialect = mysqlTableDialect(opts.names.prefix);
    this.owners = new ClientOwners(async (clientId, owner) => {
      // Autocommit: the SELECT sees whichever owner committed first.
      await this.db.query(
        `INSERT INTO ${this.t('client_owners')} (client_id, owner) VALUES (?, ?) ON DUPLICATE KEY UPDATE client_id = client_id`,
        [clientId, owner],
      );
      const { rows } = await this.db.query<{ owner: string }>(`SELECT owner FROM ${this.t('client_owners')} WHERE client_id = ?`, [
        clientId,
      ]);
      if (!rows[0]) throw new Error(`client_owners: no owner recorded for ${clientId}`);
      return rows[0].owner;
    });
  }

  uninstallCapture(): Promise<UninstalledCapture> {
    return uninstallMysqlTableCapture(this.db, this.opts.names);
  }

  /** Migrates, consumes what a previous run left in the target table (never drops it), then polls. */
  async migrate(options: MigrateOptions = {}): Promise<number[]> {
    const applied = await migrateMysql(this.db, this.opts.names);
    await options.app?.(this.appSql());
    this.tables = await installMysqlTableCapture(this.db, this.opts.names, this.opts.tables ?? []);
    this.tableCollections = new Set(this.tables.keys());
    await this.consumer.catchUp();
    this.consumer.start(this.opts.pollIntervalMs);
    return applied;
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
    // A batch that mixes both commits table rows first, then documents (two transactions, as on PostgreSQL).
    if (tableOps.length > 0) await retrying(() => this.applyTableBatch(caller, tableOps, results, authorize));
    await retrying(() => this.applyValid(caller, valid, results, authorize));
    return pushResponse(
      [...valid, ...tableOps].sort((a, b) => a.index - b.index),
      results as OperationResult[],
    );
  }

  /**
   * Operations on table collections in one transaction: each fresh operation
   * is a statement on the table in its own savepoint (table-writes.ts), then
   * every result goes to the operation log. A concurrent duplicate of an id
   * makes the log insert fail (duplicate key), and the retry answers `duplicate`.
   */
  private async applyTableBatch(caller: Caller, ops: ValidOp<TableOp>[], results: (OperationResult | undefined)[], authorize?: Authorize) {
    const out = await this.db.transaction(async (tx) => {
      await tx.query('SET @syncline_last_change = NULL');
      return this.writeTableOps(
        tx,
        caller,
        ops.map((o, index) => ({ ...o, index })),
        authorize,
      );
    });
    const position = out.last === undefined ? undefined : await this.consumer.positionOf(out.last);
    ops.forEach((o, i) => {
      const r = out.results[i] as OperationResult;
      if (r.status === 'applied' && position !== undefined) r.position = position;
      results[o.index] = r;
    });
  }

  /** Inside a transaction: the caller's stored results of known ids, fresh ones applied and logged. `ops[i].index` must be `i`. */
  private async writeTableOps(
    q: MysqlQueryable,
    caller: Caller,
    ops: ValidOp<TableOp>[],
    authorize?: Authorize,
  ): Promise<{ results: OperationResult[]; last?: number }> {
    const scope = operationScope(caller);
    const stored = await this.readStored(
      q,
      scope,
      ops.map((o) => o.op.id),
    );
    const { fresh, first } = freshOps(ops, stored);
    const freshOpsList = fresh.map((f) => f.op);
    const applied = await applyTableOps(q, this.tableDialect, this.tables, caller.clientId, freshOpsList, authorize);
    if (fresh.length > 0) await this.writeLog(q, caller.clientId, scope, fresh, applied.results);
    const byIndex = new Map(fresh.map((f, i) => [f.index, applied.results[i] as OperationResult]));
    const results = ops.map((v) => {
      const own = byIndex.get(v.index);
      if (own) return own;
      const f = first.get(v.op.id);
      const r = repeatResult(v, stored.get(v.op.id) ?? (f && { result: byIndex.get(f.index), fingerprint: f.fingerprint }));
      if (!r) throw new RetryBatch();
      return r;
    });
    const last = applied.wrote ? await this.lastChange(q) : undefined;
    return last === undefined ? { results } : { results, last };
  }

  /** The last target row this session's triggers wrote (see mysql-migrations.ts). */
  private async lastChange(q: MysqlQueryable): Promise<number | undefined> {
    const { rows } = await q.query<{ last: number | null }>('SELECT @syncline_last_change AS last');
    return rows[0]?.last == null ? undefined : Number(rows[0].last);
  }

  /** The caller's (`scope`) logged operations among these ids. */
  private async readStored(q: MysqlQueryable, scope: string, ids: string[]): Promise<Map<string, StoredOperation>> {
    const { rows } = await q.query<{ id: string; result: string; fingerprint: string | null }>(
      `SELECT id, result, fingerprint FROM ${this.t('operations')} WHERE scope = ? AND id IN (?)`,
      [scope, [...new Set(ids)]],
    );
    return new Map(rows.map((r) => [r.id, { result: parseJson(r.result) as OperationResult, fingerprint: r.fingerprint }]));
  }

  private async applyValid(
    caller: Caller,
    valid: ValidOp[],
    results: (OperationResult | undefined)[],
    authorize?: Authorize,
  ): Promise<void> {
    if (valid.length === 0) return;
    const out = await this.db.transaction(async (tx) => {
      // Marks this session's writes as the API's for the capture triggers (cleared after the transaction).
      await tx.query('SET @syncline_api = 1, @syncline_last_change = NULL');
      const { storedById, loaded } = await this.readForPlan(
        tx,
        caller,
        valid.map((v) => v.op),
        true,
      );
      const { fresh, first } = freshOps(valid, storedById);
      const ops = fresh.map((f) => f.op);
      const plan = planOperations(caller.clientId, ops, loaded, authorize);
      if (fresh.length > 0) {
        await this.writeDocs(tx, plan.writes);
        await this.writeLog(tx, caller.clientId, operationScope(caller), fresh, plan.results);
      }
      const last = plan.writes.size > 0 ? await this.lastChange(tx) : undefined;
      return { storedById, loaded, fresh, first, plan, last };
    });

    // Committed (durable); give it its position before acknowledging.
    const position = out.last === undefined ? undefined : await this.consumer.positionOf(out.last);
    out.fresh.forEach((f, i) => {
      const r = out.plan.results[i] as OperationResult;
      if (r.status === 'applied' && position !== undefined) r.position = position;
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

  /**
   * Stored results of these operation ids and the documents they touch;
   * `lock` row-locks the documents first (key order), so the operation log
   * read after it sees whatever a writer of the same documents committed.
   */
  private async readForPlan(q: MysqlQueryable, caller: CallerLike, ops: PlannedOp[], lock: boolean): Promise<PlanInput> {
    const keys = new Map<string, [string, string]>();
    for (const op of ops) keys.set(docKey(op.collection, op.docId), [op.collection, op.docId]);
    const params: unknown[] = [];
    const where = [...keys.values()].map(([c, id]) => {
      params.push(c, id);
      return '(collection = ? AND id = ?)';
    });
    const { rows: docs } = await q.query<DocRow>(
      `SELECT collection, id, data, version, vclock, deleted FROM ${this.t('documents')}
       WHERE ${where.join(' OR ')} ORDER BY collection, id ${lock ? 'FOR UPDATE' : ''}`,
      params,
    );
    const storedById = await this.readStored(
      q,
      operationScope(caller),
      ops.map((o) => o.id),
    );
    const loaded = new Map<string, DocState>();
    for (const d of docs) loaded.set(docKey(d.collection, d.id), toDocState(d));
    return { storedById, loaded };
  }

  /** New documents by plain INSERT (a concurrent insert of the same key fails and retries); existing ones (locked) in place. */
  private async writeDocs(q: MysqlQueryable, writes: ReturnType<typeof planOperations>['writes']): Promise<void> {
    const sorted = [...writes.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, w]) => w);
    const row = (w: (typeof sorted)[number]) => [
      w.state.collection,
      w.state.id,
      JSON.stringify(w.state.data),
      w.state.version,
      JSON.stringify(w.state.vclock),
      w.state.deleted,
      w.opId,
      w.clientId,
    ];
    const cols = '(collection, id, data, version, vclock, deleted, op_id, client_id)';
    const inserts = sorted.filter((w) => !w.existed).map(row);
    const updates = sorted.filter((w) => w.existed).map(row);
    if (inserts.length > 0) await q.query(`INSERT INTO ${this.t('documents')} ${cols} VALUES ?`, [inserts]);
    if (updates.length > 0) {
      await q.query(
        `INSERT INTO ${this.t('documents')} ${cols} VALUES ?
         ON DUPLICATE KEY UPDATE data = VALUES(data), version = VALUES(version), vclock = VALUES(vclock),
           deleted = VALUES(deleted), op_id = VALUES(op_id), client_id = VALUES(client_id), updated_at = CURRENT_TIMESTAMP(6)`,
        [updates],
      );
    }
  }

  private async writeLog(q: MysqlQueryable, clientId: string, scope: string, ops: ValidOp[], results: OperationResult[]): Promise<void> {
    const rows = ops.map(({ op, fingerprint }, i) => {
      const r = results[i] as OperationResult;
      return [scope, op.id, op.clientId ?? clientId, op.collection, op.docId, op.type, r.status, JSON.stringify(toStored(r)), fingerprint];
    });
    await q.query(
      `INSERT INTO ${this.t('operations')} (scope, id, client_id, collection, doc_id, type, status, result, fingerprint) VALUES ?`,
      [rows],
    );
  }

  async getChanges(req: ChangesQuery): Promise<ChangesResponse> {
    return changesResponse(await this.changePage(req));
  }

  async getChangesJson(req: ChangesQuery): Promise<string> {
    return changesJson(await this.changePage(req));
  }

  private async changePage(req: ChangesQuery): Promise<ChangePage> {
    const limit = Math.min(Math.max(1, req.limit), this.opts.limits.maxChangesLimit);
    // Another user's client id is refused before anything is read (and its position is not recorded).
    if (req.clientId) await this.owners.check({ clientId: req.clientId, userId: req.userId ?? null });
    // What other programs committed is consumed first, so a pull sees it at once.
    await this.consumer.catchUp();
    // One statement = one snapshot: the page, head and horizon agree.
    const { rows } = await this.db.query<ChangeDbRow & { head: number | null; horizon: number | null }>(
      `SELECT NULL AS position, NULL AS collection, NULL AS doc_id, NULL AS type, NULL AS data, NULL AS old, NULL AS version,
              NULL AS vclock, NULL AS op_id, NULL AS client_id, NULL AS source, NULL AS ts,
              MAX(CASE WHEN name = 'head' THEN value END) AS head, MAX(CASE WHEN name = 'horizon' THEN value END) AS horizon
       FROM ${this.t('meta')}
       UNION ALL
       (SELECT position, collection, doc_id, type, data, old, version, vclock, op_id, client_id, source, committed_ms, NULL, NULL
        FROM ${this.t('changes')} WHERE position > ? ORDER BY position LIMIT ?)`,
      [req.since, limit + 1],
    );
    let head = 0;
    let horizon = 0;
    const all: ChangeDbRow[] = [];
    for (const r of rows) {
      if (r.position === null) {
        head = Number(r.head ?? 0);
        horizon = Number(r.horizon ?? 0);
      } else all.push(r);
    }
    if (req.since < horizon) throw new SynclineError('RESYNC_REQUIRED', undefined, { since: req.since, horizon });
    const hasMore = all.length > limit;
    const kept = (hasMore ? all.slice(0, limit) : all).sort((a, b) => Number(a.position) - Number(b.position));
    const pageRows: ChangeRow[] = kept.map((r) => ({
      position: Number(r.position),
      collection: r.collection,
      doc_id: r.doc_id,
      type: r.type,
      data: r.data,
      version: Number(r.version),
      vclock: r.vclock,
      op_id: r.op_id,
      client_id: r.client_id,
      source: r.source,
      ts: Number(r.ts),
      old: r.old,
    }));
    // A full page continues after its last change; otherwise everything up to head was seen.
    const checkpoint = hasMore ? (pageRows.at(-1)?.position ?? req.since) : Math.max(req.since, head, horizon);
    if (req.clientId) {
      await this.db.query(
        `INSERT INTO ${this.t('clients')} (client_id, position, last_seen) VALUES (?, ?, CURRENT_TIMESTAMP(6))
         ON DUPLICATE KEY UPDATE position = ?, last_seen = CURRENT_TIMESTAMP(6)`,
        [req.clientId, req.since, req.since],
      );
    }
    return { rows: pageRows, checkpoint, hasMore };
  }

  async getDocument(collection: string, id: string): Promise<WireDocument | null> {
    const table = this.tables.get(collection);
    if (table) {
      if (table.pkKind === 'integer' && !/^-?\d{1,18}$/.test(id)) return null;
      const row = await this.tableDialect.readRow(this.db, table, id, false);
      return row ? { ...row.data, _id: id, _rev: row.version } : null;
    }
    const { rows } = await this.db.query<DocRow>(
      `SELECT collection, id, data, version, vclock, deleted FROM ${this.t('documents')} WHERE collection = ? AND id = ?`,
      [collection, id],
    );
    return rows[0] ? toWire(toDocState(rows[0])) : null;
  }

  async queryDocuments(collection: string, req: QueryRequest): Promise<QueryResponse> {
    const filter = parseQueryFilter(req.filter);
    const sort = parseSort(req.sort);
    const keys = mysqlSortKeys(sort);
    const limit = Math.min(req.limit ?? this.opts.limits.defaultQueryLimit, this.opts.limits.maxQueryLimit);
    const fingerprint = JSON.stringify([collection, req.filter ?? {}, sort.map((k) => [k.path, k.dir])]);
    const after = req.cursor ? decodeCursor(req.cursor, fingerprint, keys as SortKey[]) : undefined;
    // Head first: every change not reflected in the page below commits after it, so gets a higher position.
    const head = await this.currentPosition();
    // Parameters in text order (placeholders are positional).
    const params: unknown[] = [];
    const select = keys.map((k, i) => `${k.sql(params)} AS k${i}`).join(', ');
    const table = this.tables.get(collection);
    params.push(collection);
    // A table is read through the same shape as documents: (id, data, version).
    const source = table
      ? `(SELECT CAST(t.${quoteId(table.pk)} AS CHAR) AS id, ${rowJson(table, 't')} AS data, COALESCE(v.version, 1) AS version
          FROM ${quoteId(table.table)} t
          LEFT JOIN ${this.t('row_versions')} v ON v.collection = ? AND v.id = CAST(t.${quoteId(table.pk)} AS CHAR)) d`
      : `${this.t('documents')} d`;
    const where = [
      table ? 'TRUE' : 'd.collection = ? AND NOT d.deleted',
      compileMysqlFilter(filter, params, { data: 'd.data', id: 'd.id', version: 'd.version' }, this.db.flavor),
    ];
    if (after) where.push(mysqlKeyset(keys, after, params));
    params.push(limit + 1);
    const { rows } = await this.db.query<{ id: string; version: number; data: string } & Record<string, unknown>>(
      `SELECT d.id, d.version, d.data, ${select} FROM ${source}
       WHERE ${where.join(' AND ')}
       ORDER BY ${keys.map((k, i) => `k${i} ${k.dir === -1 ? 'DESC' : 'ASC'}`).join(', ')}
       LIMIT ?`,
      params,
    );
    const more = rows.length > limit;
    const pageRows = more ? rows.slice(0, limit) : rows;
    const documents = pageRows.map((r) => ({
      _id: r.id,
      _rev: Number(r.version),
      ...(parseJson(r.data) as Record<string, unknown>),
    }));
    const res: QueryResponse = { documents, count: documents.length, position: head };
    const last = pageRows.at(-1);
    if (more && last) {
      res.nextCursor = encodeCursor(
        keys.map((k, i) => (k.cast === 'text' ? String(last[`k${i}`]) : Number(last[`k${i}`]))),
        fingerprint,
      );
    }
    return res;
  }

  async getStats(): Promise<StatsResponse> {
    const t = this.t;
    const recent = 'last_seen > CURRENT_TIMESTAMP(6) - INTERVAL 30 DAY';
    const [{ rows: totals }, { rows: perCollection }] = await Promise.all([
      this.db.query<{ ops: number; head: number; horizon: number; clients: number; min_client: number | null }>(
        `SELECT (SELECT COUNT(*) FROM ${t('operations')}) AS ops,
                (SELECT value FROM ${t('meta')} WHERE name = 'head') AS head,
                (SELECT value FROM ${t('meta')} WHERE name = 'horizon') AS horizon,
                (SELECT COUNT(*) FROM ${t('clients')} WHERE ${recent}) AS clients,
                (SELECT MIN(position) FROM ${t('clients')} WHERE ${recent}) AS min_client`,
      ),
      this.db.query<{ collection: string; live: number; deleted: number }>(
        `SELECT collection, SUM(NOT deleted) AS live, SUM(deleted) AS deleted
         FROM ${t('documents')} GROUP BY collection ORDER BY collection`,
      ),
    ]);
    const tot = totals[0];
    let unsynced = 0;
    if (tot?.min_client != null) {
      const { rows } = await this.db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t('changes')} WHERE position > ?`, [tot.min_client]);
      unsynced = Number(rows[0]?.n ?? 0);
    }
    return statsResponse({
      ops: tot?.ops,
      head: tot?.head,
      horizon: tot?.horizon,
      clients: tot?.clients,
      unsynced,
      collections: [...perCollection, ...(await this.tableCounts())],
    });
  }

  /** Rows of each table collection: exact below EXACT_COUNT_LIMIT (by information_schema's estimate), else the estimate. */
  private async tableCounts(): Promise<{ collection: string; live: number; deleted: number }[]> {
    const out: { collection: string; live: number; deleted: number }[] = [];
    for (const t of this.tables.values()) {
      const { rows } = await this.db.query<{ n: number | null }>(
        'SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
        [t.table],
      );
      let live = Number(rows[0]?.n ?? 0);
      if (live <= EXACT_COUNT_LIMIT) {
        const { rows: exact } = await this.db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quoteId(t.table)}`);
        live = Number(exact[0]?.n ?? 0);
      }
      out.push({ collection: t.collection, live, deleted: 0 });
    }
    return out;
  }

  appSql(): AppSql {
    const db = this.db;
    const q = (c: MysqlQueryable): AppQueryable => ({
      query: (sql, params) => c.query(...toMysqlPlaceholders(sql, params)),
      async exec(script) {
        for (const sql of splitMysqlScript(script)) await c.query(sql);
      },
    });
    return {
      dialect: 'mysql',
      ...q(db),
      table: (name) => this.t(name),
      exclusive: (lock, fn) =>
        db.session(async (conn) => {
          const name = lockName(db.database, this.opts.names.prefix, lock);
          const { rows } = await conn.query<{ ok: number | null }>('SELECT GET_LOCK(?, 600) AS ok', [name]);
          if (Number(rows[0]?.ok) !== 1) throw new SynclineError('INTERNAL', `Could not take the lock ${lock} within 600 s.`);
          try {
            // Plain data statements roll back with a failure; DDL commits implicitly (MySQL).
            await conn.query('START TRANSACTION');
            try {
              const out = await fn(q(conn));
              await conn.query('COMMIT');
              return out;
            } catch (err) {
              await conn.query('ROLLBACK').catch(() => {});
              throw err;
            }
          } finally {
            await conn.query('SELECT RELEASE_LOCK(?)', [name]);
          }
        }),
    };
  }

  /**
   * One compaction at a time (a named lock). The horizon is raised first (its
   * own statement, committed at once), so pulls below it get RESYNC_REQUIRED
   * while the rows under it are deleted in bounded chunks.
   */
  async compact(olderThanDays: number, options: CompactOptions = {}): Promise<CompactResponse> {
    const t = this.t;
    const micros = Math.round(olderThanDays * 86_400_000_000);
    const chunk = Math.max(1, Math.floor(options.chunkSize ?? COMPACT_CHUNK));
    return this.db.session(async (conn) => {
      const lock = lockName(this.db.database, this.opts.names.prefix, 'compact');
      await conn.query('SELECT GET_LOCK(?, 600)', [lock]);
      try {
        // One cutoff for every step, so the counts and the deletes agree.
        const { rows: cut } = await conn.query<{ cutoff: string; ms: number }>(
          'SELECT CURRENT_TIMESTAMP(6) - INTERVAL ? MICROSECOND AS cutoff, ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) - ? / 1000 AS ms',
          [micros, micros],
        );
        const cutoff = cut[0]?.cutoff as string;
        const { rows: h } = await conn.query<{ h: number | null }>(
          `SELECT MAX(position) AS h FROM ${t('changes')} WHERE committed_ms < ?`,
          [Number(cut[0]?.ms)],
        );
        const horizon = h[0]?.h == null ? 0 : Number(h[0].h);
        if (horizon > 0) await conn.query(`UPDATE ${t('meta')} SET value = GREATEST(value, ?) WHERE name = 'horizon'`, [horizon]);
        const { rows: counts } = await conn.query<{ changes: number; tombstones: number; ops: number }>(
          `SELECT (SELECT COUNT(*) FROM ${t('changes')} WHERE position <= ?) AS changes,
                  (SELECT COUNT(*) FROM ${t('documents')} WHERE deleted AND updated_at < ?) AS tombstones,
                  (SELECT COUNT(*) FROM ${t('operations')} WHERE created_at < ?) AS ops`,
          [horizon, cutoff, cutoff],
        );
        const total = Number(counts[0]?.changes ?? 0) + Number(counts[0]?.tombstones ?? 0) + Number(counts[0]?.ops ?? 0);
        let done = 0;
        const chunked = async (sql: string, params: unknown[]): Promise<number> => {
          let deleted = 0;
          for (;;) {
            const { affectedRows } = await conn.query(`${sql} LIMIT ${chunk}`, params);
            deleted += affectedRows;
            done += affectedRows;
            options.onProgress?.(done, Math.max(done, total));
            if (affectedRows < chunk) return deleted;
          }
        };
        const deletedChanges =
          horizon > 0 ? await chunked(`DELETE FROM ${t('changes')} WHERE position <= ? ORDER BY position`, [horizon]) : 0;
        // Tombstones go once their delete is older than the cutoff; live documents are never touched.
        const purgedTombstones = await chunked(`DELETE FROM ${t('documents')} WHERE deleted AND updated_at < ?`, [cutoff]);
        const deletedCount = await chunked(`DELETE FROM ${t('operations')} WHERE created_at < ?`, [cutoff]);
        const { rows: hz } = await conn.query<{ h: number }>(`SELECT value AS h FROM ${t('meta')} WHERE name = 'horizon'`);
        return {
          message: 'Compaction completed' as const,
          deletedCount,
          deletedChanges,
          purgedTombstones,
          horizon: Number(hz[0]?.h ?? 0),
        };
      } finally {
        await conn.query('SELECT RELEASE_LOCK(?)', [lock]);
      }
    });
  }

  async positionAtTime(ms: number): Promise<number> {
    await this.consumer.catchUp();
    const { rows } = await this.db.query<{ p: string | number | null; h: string | number | null }>(
      `SELECT (SELECT MIN(position) FROM ${this.t('changes')} WHERE committed_ms >= ?) AS p,
              (SELECT value FROM ${this.t('meta')} WHERE name = 'horizon') AS h`,
      [ms],
    );
    if (rows[0]?.p == null) return this.currentPosition();
    return beforeHorizon(Number(rows[0].p) - 1, Number(rows[0].h ?? 0));
  }

  /** Consumes what is committed first, so the position covers every write committed before the call (as on PostgreSQL). */
  async currentPosition(): Promise<number> {
    await this.consumer.catchUp();
    const { rows } = await this.db.query<{ p: number }>(`SELECT MAX(value) AS p FROM ${this.t('meta')}`);
    return Number(rows[0]?.p ?? 0);
  }

  /** True while this instance holds the poller lease (GET_LOCK on a connection it keeps). */
  private leader = false;

  /** Whether this instance holds the poller lease (see `pollWhen`). */
  get pollLeader(): boolean {
    return this.leader;
  }
  private lease: Promise<void> | undefined;
  private closing: (() => void) | undefined;
  private readonly closed = new Promise<void>((resolve) => {
    this.closing = resolve;
  });
  private isClosed = false;

  /**
   * With a bus, one instance polls the target table for everyone: the holder of a
   * lease (a named lock on a connection it keeps; a crashed instance's connection
   * drops and frees it). While the bus is up the others do not poll; they get
   * changes over the bus. While it is down, every instance polls again.
   */
  pollWhen(follow: () => boolean): void {
    this.consumer.follow = () => follow() && !this.leader;
    this.lease ??= this.holdLease();
  }

  private async holdLease(): Promise<void> {
    const name = lockName(this.db.database, this.opts.names.prefix, 'poller');
    const pause = (ms: number) => Promise.race([this.closed, new Promise<void>((r) => setTimeout(r, ms).unref())]);
    while (!this.isClosed) {
      try {
        await this.db.session(async (conn) => {
          const { rows } = await conn.query<{ ok: number | null }>('SELECT GET_LOCK(?, 0) AS ok', [name]);
          if (Number(rows[0]?.ok) !== 1) return;
          this.leader = true;
          try {
            // A query a second notices a lost connection (and with it the lease).
            while (!this.isClosed) {
              await pause(1000);
              if (!this.isClosed) await conn.query('SELECT 1');
            }
          } finally {
            this.leader = false;
            await conn.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => {});
          }
        });
      } catch {
        this.leader = false;
      }
      await pause(Math.max(1000, this.opts.pollIntervalMs * 4));
    }
  }

  async onCommit(listener: (position: number, origin: CommitOrigin) => void): Promise<() => Promise<void>> {
    const off = this.consumer.onCommit(listener);
    return async () => {
      off();
    };
  }

  async createActionRunner(_options: ActionRunnerOptions): Promise<ActionRunner> {
    const runner = this.stagedRunner();
    return {
      mode: runner.mode,
      begin: async (caller, op, authorize) => {
        const taken = await this.owners.refusal(caller);
        if (taken) return refused(op, taken);
        const table = this.tables.get(op.collection);
        // MySQL cannot reserve an AUTO_INCREMENT key before the ACK (PostgreSQL draws it from the
        // sequence): refuse at once rather than ACK a key the row will not get.
        if (table?.pkGenerated && table.pkKind === 'integer' && op.type === 'insert' && op.idGiven === false) {
          return refused(
            op,
            errorRef(
              'INVALID_DOCUMENT_ID',
              `MySQL: a CREATE on table ${table.table} needs data.id (its AUTO_INCREMENT key cannot be reserved before the ACK); POST /operations and /sync push return the generated key.`,
            ),
          );
        }
        return runner.begin(caller, op, authorize, fingerprintOf(op));
      },
      close: () => runner.close(),
    };
  }

  private stagedRunner(): ActionRunner {
    // Nothing held open awaiting a FIN: staged at ACK, applied at FIN (DESIGN invariant 6).
    return new StagedActionRunner({
      read: async (caller, op) => {
        const input = await this.readForPlan(this.db, caller, [op], false);
        const table = this.tables.get(op.collection);
        return table ? withTableRow(input, this.db, this.tableDialect, table, op) : input;
      },
      applyOperations: (caller, ops, authorize, fingerprints) => this.applyOperations(caller, ops, authorize, fingerprints),
    });
  }

  async listClients(limit: number): Promise<ClientRecord[]> {
    // UNIX_TIMESTAMP reads the DATETIME in the session time zone, the one CURRENT_TIMESTAMP wrote it in.
    const { rows } = await this.db.query<{ client_id: string; position: string | number; seen: string | number }>(
      `SELECT client_id, position, UNIX_TIMESTAMP(last_seen) * 1000 AS seen
       FROM ${this.t('clients')} ORDER BY last_seen DESC LIMIT ${Math.max(0, Math.trunc(limit))}`,
    );
    return rows.map((r) => ({ clientId: r.client_id, position: Number(r.position), lastSeen: Math.round(Number(r.seen)) }));
  }

  async findRow(table: string, column: string, value: string): Promise<Record<string, unknown> | null> {
    // `=` uses the column's index; the binary comparison makes the match exact
    // (no case-insensitive collation, no '05' = 5 conversion).
    const col = quoteId(column);
    const { rows } = await this.db.query(
      `SELECT * FROM ${quoteId(table)} WHERE ${col} = ? AND CAST(${col} AS BINARY) = CAST(? AS BINARY) LIMIT 1`,
      [value, value],
    );
    return (rows[0] as Record<string, unknown> | undefined) ?? null;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  async close(): Promise<void> {
    this.isClosed = true;
    this.closing?.();
    await this.lease;
    this.consumer.stop();
    await this.consumer.catchUp().catch(() => {});
    await this.db.close();
  }
}

/** Runs `attempt` again after a retryable error (a concurrent duplicate key, lock wait timeout, deadlock). */
async function retrying(attempt: () => Promise<void>): Promise<void> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const code = (err as { errno?: number }).errno;
      const retry = err instanceof RetryBatch || (code !== undefined && RETRYABLE.has(code));
      if (!retry || n >= MAX_ATTEMPTS) throw err;
    }
  }
}

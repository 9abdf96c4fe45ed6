/**
 * `/sendActions` on PostgreSQL: each ACKed action holds a real transaction on
 * a pool of its own (size = maxOpenActions), so REST and `/sync` never wait
 * for a connection held by an action awaiting its FIN.
 *
 * Locks never wait (no deadlock, no hang): the record is claimed with a
 * transaction-scoped advisory lock (covers CREATE of an id that does not exist
 * yet, also across instances) and its row with `FOR UPDATE NOWAIT`; either
 * being taken → RECORD_BUSY at once. The write is the same statement as
 * `applyOperations` (write-statement.ts): it marks the transaction as the
 * API's, so, like an API write, it is sequenced by the server after COMMIT.
 * Open transactions delay no one's changes: positions are drawn at sequencing.
 */
import { errorRef, type OperationResult } from '@syncline/protocol';
import pg from 'pg';
import { type Authorize, planOperations } from '../engine/plan-operations.js';
import type { ActionOp, ActionRunner, ActionRunnerOptions, BeginOutcome, FinOutcome } from './action-runner.js';
import { refused, storedOutcome } from './action-runner.js';
import { asCaller, type Caller, type CallerLike, fingerprintOf, operationScope } from './operation-scope.js';
import type { SqlQueryable } from './sql-client.js';
import { actionLockKey, readForPlan, writePlan } from './write-statement.js';

/** lock_not_available: NOWAIT or lock_timeout. */
const LOCK_NOT_AVAILABLE = '55P03';
/** A concurrent REST/SQL write created the key between read and write: plan again. */
const RETRYABLE = new Set(['23505', '40001', '40P01', 'SYR01']);
const ATTEMPTS = 3;
/** Bounds the one wait left: an INSERT behind a short REST/SQL transaction that inserts the same key. */
const LOCK_TIMEOUT_MS = 1000;

export class HeldActionRunner implements ActionRunner {
  readonly mode = 'held' as const;
  private readonly pool: pg.Pool;

  constructor(
    opts: ActionRunnerOptions & { databaseUrl: string },
    private readonly s: string,
    private readonly sequence: (txid: string) => Promise<number>,
    /** Table collections: their writes go through the storage's table path, in this held transaction. */
    private readonly tables: {
      has(collection: string): boolean;
      write(
        q: SqlQueryable,
        caller: Caller,
        op: ActionOp,
        fingerprint: string,
        authorize?: Authorize,
      ): Promise<{ results: OperationResult[]; txid?: string }>;
    },
  ) {
    this.pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.maxOpenActions,
      connectionTimeoutMillis: 5000,
      statement_timeout: opts.statementTimeoutMs,
      lock_timeout: LOCK_TIMEOUT_MS,
      // The server rolls back at finTimeoutMs; this only reaps a transaction a crashed process left behind.
      idle_in_transaction_session_timeout: opts.finTimeoutMs + 30_000,
      application_name: 'syncline-actions',
    } as pg.PoolConfig);
    this.pool.on('error', () => {});
  }

  async begin(caller: CallerLike, op: ActionOp, authorize?: Authorize, fingerprint = fingerprintOf(op)): Promise<BeginOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(asCaller(caller), op, fingerprint, authorize);
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (code === LOCK_NOT_AVAILABLE) return refused(op, errorRef('RECORD_BUSY'));
        if (!RETRYABLE.has(code) || attempt >= ATTEMPTS) throw err;
      }
    }
  }

  private async attempt(caller: Caller, op: ActionOp, fingerprint: string, authorize?: Authorize): Promise<BeginOutcome> {
    const client = await this.pool.connect();
    const q: SqlQueryable = {
      query: async <T>(sql: string, params?: unknown[]) => {
        const r = await client.query(sql, params);
        return { rows: r.rows as T[], affectedRows: r.rowCount ?? 0 };
      },
      exec: async (sql: string) => {
        await client.query(sql);
      },
    };
    let held = false;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok', [
        actionLockKey(this.s, op.collection, op.docId),
      ]);
      if (!rows[0]?.ok) return refused(op, errorRef('RECORD_BUSY'));
      if (this.tables.has(op.collection)) {
        const { results, txid } = await this.tables.write(q, caller, op, fingerprint, authorize);
        const result = results[0] as OperationResult;
        if (result.status === 'duplicate') {
          return result.originalStatus === 'applied' ? { kind: 'duplicate', result } : { kind: 'refused', result };
        }
        if (result.status !== 'applied') return { kind: 'refused', result };
        held = true;
        return { kind: 'open', result, action: { commit: () => this.commit(client, txid), rollback: () => this.rollback(client) } };
      }
      const scope = operationScope(caller);
      const { storedById, loaded } = await readForPlan(q, this.s, scope, [op], 'nowait');
      const stored = storedById.get(op.id);
      if (stored) return storedOutcome(op, stored, fingerprint, loaded);
      const plan = planOperations(caller.clientId, [op], loaded, authorize);
      const result = plan.results[0] as OperationResult;
      if (result.status !== 'applied') return { kind: 'refused', result };
      // Written now, inside the held transaction: triggers capture the change
      // and the operation log records the id, all invisible until COMMIT.
      const txid = await writePlan(q, this.s, caller.clientId, { scope, fingerprints: [fingerprint] }, [op], plan, loaded);
      held = true;
      return { kind: 'open', result, action: { commit: () => this.commit(client, txid), rollback: () => this.rollback(client) } };
    } finally {
      if (!held) await this.rollback(client);
    }
  }

  private async commit(client: pg.PoolClient, txid: string | undefined): Promise<FinOutcome> {
    try {
      const r = await client.query('COMMIT');
      client.release();
      // COMMIT of a transaction that failed meanwhile reports ROLLBACK instead of an error.
      if (r.command === 'ROLLBACK') {
        return { kind: 'rolledBack', reason: 'error', error: errorRef('STORAGE_UNAVAILABLE', 'The transaction was rolled back.') };
      }
    } catch {
      client.release(true);
      return { kind: 'rolledBack', reason: 'error', error: errorRef('STORAGE_UNAVAILABLE') };
    }
    if (txid === undefined) return { kind: 'committed' };
    try {
      return { kind: 'committed', position: await this.sequence(txid) };
    } catch {
      // Committed (durable); the sequencer's sweep gives it its position shortly.
      return { kind: 'committed' };
    }
  }

  private async rollback(client: pg.PoolClient): Promise<void> {
    try {
      await client.query('ROLLBACK');
      client.release();
    } catch {
      client.release(true);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * One socket of `/sendActions`: its actions from batch to commit or rollback.
 *
 * Every action runs on its own (a batch is not awaited as a whole), so each
 * gets its `actionResult` as soon as it is done. Life of an action:
 * - READ: ACK with the record (NACK NOT_FOUND if none); holds nothing, needs no FIN.
 * - write: ACK, then open until `clientFin` (→ commit, `actionCommitted`) or
 *   timeout / disconnect / shutdown (→ `actionRolledBack`).
 * - NACK (any type): followed by `actionRolledBack` with reason 'nack'.
 * Record locks are in-process and never wait: an action on a record held by an
 * open action is NACKed RECORD_BUSY at once (no queue, so no deadlock or hang).
 */
import {
  type AdminOperationStatus,
  type ErrorRef,
  errorRef,
  type OperationResult,
  type SynclineError,
  type WireDocument,
} from '@syncline/protocol';
import type { Socket } from 'socket.io';
import { isExpired } from '../auth/authenticate.js';
import { docKey } from '../engine/plan-operations.js';
import type { ActionRunner, BeginOutcome, FinOutcome, OpenAction } from '../storage/action-runner.js';
import { refused } from '../storage/action-runner.js';
import { toSynclineError } from './errors.js';
import type { ActionBudget } from './send-actions-budget.js';
import type { Action, WireId } from './send-actions-parse.js';
import { type SocketDeps, socketIdentity } from './socket-deps.js';

export type RollbackReason = 'timeout' | 'disconnect' | 'nack' | 'shutdown' | 'conflict' | 'error' | 'expired';

/** State shared by every socket of the namespace on this instance. */
export interface ActionHub extends SocketDeps {
  runner: ActionRunner | undefined;
  /** Records (and operation ids) held by open actions. */
  locks: Set<string>;
  /** Write actions in progress on this instance, per user and in all (send-actions-budget.ts). */
  budget: ActionBudget;
  stopping: boolean;
  /** Keeps a promise until it settles, so shutdown can wait for it. */
  track(p: Promise<unknown>): void;
}

interface Entry {
  action: Action;
  compat: boolean;
  state: 'starting' | 'open' | 'ending';
  lockKeys: string[];
  open?: OpenAction;
  timer?: NodeJS.Timeout;
  /** clientFin arrived before the ACK. */
  finRequested?: boolean;
  /** Disconnect or shutdown while the action was starting. */
  cancel?: RollbackReason;
  /** Refused before parsing completed (its type is unknown): reported to the admin metrics like a write. */
  refused?: boolean;
  /** Size of the action's data as JSON, counted against the open actions' byte budget while it is open. */
  bytes?: number;
}

/** Ids of recently ended actions: a late clientFin for one of them is not an error. */
const RECENT_LIMIT = 1000;

export class ActionSession {
  private readonly entries = new Map<string, Entry>();
  /** Open write actions in ACK order (clientFin without id confirms the oldest). */
  private readonly awaitingFin: Entry[] = [];
  private readonly recent = new Set<string>();
  private writes = 0;
  private reads = 0;

  constructor(
    private readonly socket: Socket,
    private readonly hub: ActionHub,
    private readonly clientId: string,
    /** The server made `clientId` up for this connection (none was given): no user owns it. */
    private readonly generatedId = false,
  ) {}

  start(action: Action, compat: boolean): void {
    if (this.entries.has(action.key)) {
      this.emitError(
        errorRef('VALIDATION_FAILED', `Action ${JSON.stringify(action.wireId)} is still in progress on this socket; use a new id.`),
        { id: action.wireId },
      );
      return;
    }
    const entry: Entry = { action, compat, state: 'starting', lockKeys: [] };
    const refusal = this.admit(entry);
    if (refusal) {
      this.nack(entry, refusal);
      return;
    }
    this.entries.set(action.key, entry);
    if (action.op) {
      for (const k of entry.lockKeys) this.hub.locks.add(k);
      this.writes++;
      this.hub.track(this.begin(entry));
    } else {
      this.reads++;
      this.hub.track(this.read(entry));
    }
  }

  /** Why an action cannot start now (limits, a held record), decided at once: nothing ever waits for a lock. */
  private admit(entry: Entry): ErrorRef | undefined {
    const { config, locks } = this.hub;
    const { action } = entry;
    const recordKey = `r${docKey(action.collection, action.docId)}`;
    if (this.hub.stopping) return errorRef('STORAGE_UNAVAILABLE', 'The server is shutting down; retry on another connection.');
    if (locks.has(recordKey)) return errorRef('RECORD_BUSY');
    if (!action.op) {
      if (this.reads < config.maxOperations) return undefined;
      return errorRef('TOO_MANY_OPEN_ACTIONS', `At most ${config.maxOperations} READ actions may be in progress per socket.`);
    }
    // Operation ids are the caller's own: another user's open action neither blocks nor is revealed.
    const opKey = `o${socketIdentity(this.socket).userId ?? ''}\u0000${action.op.id}`;
    if (locks.has(opKey)) return errorRef('RECORD_BUSY', 'This action is already open on another connection.');
    // Last: a write that passes is counted against its user's budget until end().
    const bytes = Buffer.byteLength(JSON.stringify(action.op.data ?? null));
    const over = this.hub.budget.take(this.budgetKey(), this.writes, bytes);
    if (over) return over;
    entry.bytes = bytes;
    entry.lockKeys = [recordKey, opKey];
    return undefined;
  }

  /** NACKs an action that failed validation. */
  refuse(wireId: WireId, compat: boolean, error: ErrorRef): void {
    const action: Action = { wireId, key: String(wireId), type: 'READ', collection: '', docId: '' };
    this.nack({ action, compat, state: 'ending', lockKeys: [], refused: true }, error);
  }

  private async read(entry: Entry): Promise<void> {
    const { collection, docId } = entry.action;
    try {
      const found = await this.hub.storage.getDocument(collection, docId);
      const who = socketIdentity(this.socket);
      // A record the caller may not read is answered as missing.
      const doc = found && this.hub.policy.canRead(collection, who, found) ? found : null;
      this.end(entry);
      // The token expired while the record was read: it is not sent.
      if (isExpired(who)) this.nack(entry, errorRef('TOKEN_EXPIRED'));
      else if (doc) this.emitResult(entry, { status: 'ACK', data: toRecord(doc) });
      else this.nack(entry, errorRef('NOT_FOUND', `No record ${JSON.stringify(docId)} in collection ${collection}.`));
    } catch (err) {
      this.end(entry);
      this.nack(entry, this.internal(err));
    }
  }

  private async begin(entry: Entry): Promise<void> {
    const who = socketIdentity(this.socket);
    const op = this.hub.policy.prepare([entry.action.op as NonNullable<Action['op']>], who)[0] as NonNullable<Action['op']>;
    let outcome: BeginOutcome;
    try {
      outcome = this.hub.runner
        ? await this.hub.runner.begin(
            { clientId: this.clientId, userId: who.userId, generated: this.generatedId },
            op,
            this.hub.policy.authorizer(who),
          )
        : refused(op, errorRef('INTERNAL', 'This storage does not support write actions.'));
    } catch (err) {
      outcome = refused(op, this.internal(err));
    }
    if (outcome.kind === 'open' && entry.cancel) {
      await outcome.action.rollback();
      this.end(entry);
      this.emitRolledBack(entry, entry.cancel);
      return;
    }
    if (outcome.kind === 'refused') {
      this.end(entry);
      const result = this.hub.policy.guardResult(outcome.result, who);
      this.nack(
        entry,
        result.error ?? errorRef('INTERNAL'),
        result.serverDocument,
        outcome.result.status === 'conflict' ? 'conflict' : 'rejected',
      );
      return;
    }
    if (outcome.kind === 'duplicate') {
      // Committed by an earlier attempt with this id: answer as then, apply nothing.
      this.end(entry);
      this.emitResult(entry, { status: 'ACK', data: resultRecord(this.hub.policy.guardResult(outcome.result, who)), duplicate: true });
      this.socket.emit('actionCommitted', { id: entry.action.wireId, duplicate: true });
      this.report(entry, 'duplicate', outcome.result.position === undefined ? {} : { position: outcome.result.position });
      return;
    }
    entry.state = 'open';
    entry.open = outcome.action;
    this.awaitingFin.push(entry);
    entry.timer = setTimeout(() => this.hub.track(this.rollback(entry, 'timeout')), this.hub.config.finTimeoutMs);
    entry.timer.unref();
    // A write allowed where reading is not ACKs the id and version only.
    this.emitResult(entry, { status: 'ACK', data: resultRecord(this.hub.policy.guardResult(outcome.result, who)) });
    if (entry.finRequested) await this.commit(entry);
  }

  /** `clientFin` payload: `{id}`, a bare id, or nothing (= the oldest ACKed open action). */
  fin(payload: unknown): void {
    const raw = typeof payload === 'object' && payload !== null ? (payload as { id?: unknown }).id : payload;
    if (raw === undefined || raw === null) {
      const oldest = this.awaitingFin[0];
      if (oldest) this.hub.track(this.commit(oldest));
      return;
    }
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      this.emitError(errorRef('VALIDATION_FAILED', 'clientFin: expected {id} with the id of an ACKed action.'));
      return;
    }
    const key = String(raw);
    const entry = this.entries.get(key);
    if (!entry) {
      if (!this.recent.has(key)) {
        this.emitError(errorRef('NOT_FOUND', `clientFin: no action ${JSON.stringify(raw)} awaits a FIN on this socket.`), { id: raw });
      }
      return;
    }
    if (entry.state === 'starting' && entry.action.op) entry.finRequested = true;
    else if (entry.state === 'open') this.hub.track(this.commit(entry));
  }

  private async commit(entry: Entry): Promise<void> {
    if (entry.state !== 'open' || !entry.open) return;
    // Decided by the clock at the commit itself: a FIN that got past the event check just before `exp` commits nothing after it.
    if (isExpired(socketIdentity(this.socket))) {
      await this.rollback(entry, 'expired');
      return;
    }
    this.settle(entry);
    let out: FinOutcome;
    try {
      out = await entry.open.commit();
    } catch (err) {
      out = { kind: 'rolledBack', reason: 'error', error: this.internal(err) };
    }
    // Unlocked before the client hears of it, so its next action on the record is not busy.
    this.end(entry);
    if (out.kind === 'committed') {
      this.hub.metrics?.actionCommitted();
      this.report(entry, 'committed', out.position === undefined ? {} : { position: out.position });
      this.socket.emit('actionCommitted', {
        id: entry.action.wireId,
        ...(out.position === undefined ? {} : { position: out.position }),
        ...(out.duplicate ? { duplicate: true } : {}),
      });
    } else this.emitRolledBack(entry, out.reason, out.error);
  }

  private async rollback(entry: Entry, reason: RollbackReason): Promise<void> {
    if (entry.state === 'starting') {
      entry.cancel = reason;
      return;
    }
    if (entry.state !== 'open' || !entry.open) return;
    this.settle(entry);
    await entry.open.rollback();
    this.end(entry);
    this.emitRolledBack(entry, reason);
  }

  /** Rolls back every action of this socket (disconnect, shutdown). */
  closeAll(reason: RollbackReason): Promise<void> {
    return Promise.all([...this.entries.values()].map((e) => this.rollback(e, reason))).then(() => {});
  }

  private settle(entry: Entry): void {
    entry.state = 'ending';
    clearTimeout(entry.timer);
    const i = this.awaitingFin.indexOf(entry);
    if (i >= 0) this.awaitingFin.splice(i, 1);
  }

  private end(entry: Entry): void {
    if (this.entries.get(entry.action.key) !== entry) return;
    this.entries.delete(entry.action.key);
    if (entry.action.op) {
      this.writes--;
      this.hub.budget.release(this.budgetKey(), entry.bytes);
      for (const k of entry.lockKeys) this.hub.locks.delete(k);
    } else this.reads--;
    this.remember(entry.action.key);
  }

  /** Whose budget this socket's write actions count against: its user, or (anonymous) its client id. */
  private budgetKey(): string {
    const { userId } = socketIdentity(this.socket);
    return userId === null ? `c:${this.clientId}` : `u:${userId}`;
  }

  private remember(key: string): void {
    this.recent.add(key);
    if (this.recent.size > RECENT_LIMIT) this.recent.delete(this.recent.values().next().value as string);
  }

  private nack(entry: Entry, error: ErrorRef, serverDocument?: WireDocument | null, status: 'rejected' | 'conflict' = 'rejected'): void {
    const { path: _path, ...err } = error;
    if (entry.action.op || entry.refused) this.report(entry, status, { code: error.code, message: error.message });
    this.emitResult(entry, { status: 'NACK', error: err, ...(serverDocument ? { serverDocument: toRecord(serverDocument) } : {}) });
    this.emitRolledBack(entry, 'nack');
    if (!this.entries.has(entry.action.key)) this.remember(entry.action.key);
  }

  private emitResult(entry: Entry, body: Record<string, unknown>): void {
    this.socket.emit(entry.compat ? 'productActionResult' : 'actionResult', { id: entry.action.wireId, ...body });
  }

  /** An action's final state for the admin API (reads are not operations: not reported). */
  private report(entry: Entry, status: AdminOperationStatus, extra: { code?: string; message?: string; position?: number }): void {
    const metrics = this.hub.metrics;
    if (!metrics) return;
    const { action } = entry;
    metrics.record({
      time: Date.now(),
      via: 'sendActions',
      clientId: this.clientId,
      id: action.op?.id ?? String(action.wireId),
      type: action.op?.type ?? 'unknown',
      collection: action.collection || null,
      docId: action.docId || null,
      status,
      ...extra,
    });
  }

  private emitRolledBack(entry: Entry, reason: RollbackReason, error?: ErrorRef): void {
    if (this.hub.metrics && (entry.action.op || entry.refused)) {
      this.hub.metrics.actionRolledBack(reason);
      // A NACK was reported with its own status; every other rollback ends an ACKed action.
      if (reason !== 'nack') {
        this.report(entry, 'rolledBack', { code: error?.code, message: error?.message ?? `Rolled back: ${reason}.` });
      }
    }
    this.socket.emit('actionRolledBack', {
      id: entry.action.wireId,
      reason,
      ...(error ? { error: { code: error.code, message: error.message } } : {}),
    });
  }

  emitError(error: ErrorRef | SynclineError, details?: Record<string, unknown>): void {
    const d = details ?? ('details' in error ? error.details : undefined);
    this.socket.emit('error', { code: error.code, message: error.message, ...(d ? { details: d } : {}) });
  }

  private internal(err: unknown): ErrorRef {
    const e = toSynclineError(err);
    if (e.status >= 500) this.hub.log.error({ err }, '/sendActions: action failed');
    return errorRef(e.code, e.message);
  }
}

/** A document as the reference's records: `{id, ...fields, _rev}`. */
function toRecord(doc: WireDocument): Record<string, unknown> {
  const { _id, _rev, id: _shadowed, ...fields } = doc;
  return { id: _id, ...fields, _rev };
}

function resultRecord(r: OperationResult): Record<string, unknown> {
  if (r.document) return toRecord(r.document);
  // A delete (or a duplicate whose document moved on): the id and the version it wrote.
  return { id: r.docId, ...(r.version === undefined ? {} : { _rev: r.version }), ...(r.document === null ? { deleted: true } : {}) };
}

export type { WireId };

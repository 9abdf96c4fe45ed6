/**
 * The seam under `/sendActions`: one write action, ACKed first, committed at
 * the client's FIN or rolled back. Nothing of an action is visible to anyone
 * (documents, change log, operation log) before `commit()` resolves.
 *
 * Two implementations (SYNCLINE_ACTION_MODE):
 * - HeldActionRunner (PostgreSQL, `held`): a real transaction per action on its own
 *   pool, row-locked with NOWAIT, written at ACK, committed at FIN.
 * - StagedActionRunner (`staged`, the default; the only one on PGlite, whose single
 *   connection a held transaction would block, and MySQL): holding a transaction per
 *   action would cost a connection each, so the action is planned at ACK without writing and
 *   applied at FIN through `applyOperations` with the version it was planned on
 *   (a concurrent change in between turns the FIN into a 'conflict' rollback).
 */
import { type ErrorRef, errorRef, type OperationResult, type PushResponse } from '@syncline/protocol';
import { type Authorize, type DocState, docKey, type PlannedOp, planOperations } from '../engine/plan-operations.js';
import { asCaller, type CallerLike, fingerprintOf, reusedKey, type StoredOperation, sameBody } from './operation-scope.js';
import { type PlanInput, withDocument } from './write-statement.js';

/** An action's write as a Syncline operation (CREATE → insert, UPDATE → patch, DELETE → delete). */
export type ActionOp = PlannedOp & {
  type: 'insert' | 'patch' | 'delete';
  /** False when the client sent no record id and `docId` was generated (a table may then draw its own key). */
  idGiven?: boolean;
};

export type BeginOutcome =
  /** ACK: the write is prepared and holds its record until commit or rollback. */
  | { kind: 'open'; result: OperationResult; action: OpenAction }
  /** ACK: this operation id was committed before; nothing is held. */
  | { kind: 'duplicate'; result: OperationResult }
  /** NACK: `result.error` says why (RECORD_BUSY, DOCUMENT_EXISTS, DOCUMENT_NOT_FOUND, ...). */
  | { kind: 'refused'; result: OperationResult };

export type FinOutcome =
  | { kind: 'committed'; position?: number; duplicate?: boolean }
  | { kind: 'rolledBack'; reason: 'conflict' | 'error'; error: ErrorRef };

export interface OpenAction {
  /** Commits; resolves once the change is durable (and sequenced, when a position is given). */
  commit(): Promise<FinOutcome>;
  /** Discards the write; never throws. */
  rollback(): Promise<void>;
}

export interface ActionRunner {
  readonly mode: 'held' | 'staged';
  /**
   * `caller`: whose action (its operation id is scoped to it; another user's client id is refused
   * with CLIENT_ID_TAKEN). `authorize`: the write rules (a refused action is NACKed with FORBIDDEN).
   * `fingerprint`: of the action as the client sent it, when the storage changed `op` since (a drawn key).
   */
  begin(caller: CallerLike, op: ActionOp, authorize?: Authorize, fingerprint?: string): Promise<BeginOutcome>;
  /** Releases the runner's resources; call after every open action ended. */
  close(): Promise<void>;
}

export interface ActionRunnerOptions {
  /** `held` (PostgreSQL with databaseUrl) or `staged` (the default, every storage). */
  mode?: 'staged' | 'held';
  /** PostgreSQL URL for the held runner's own pool. */
  databaseUrl?: string | undefined;
  /** Server-wide bound on open actions: the held runner's pool size. */
  maxOpenActions: number;
  finTimeoutMs: number;
  statementTimeoutMs: number;
}

/** What the staged runner needs from storage. */
export interface StagedBackend {
  /** The caller's stored result of the operation id and the document's current state, read without locks. */
  read(caller: CallerLike, op: ActionOp): Promise<PlanInput>;
  applyOperations(
    caller: CallerLike,
    operations: unknown[],
    authorize: Authorize | undefined,
    fingerprints: readonly string[],
  ): Promise<PushResponse>;
}

export const refused = (op: ActionOp, error: ErrorRef): BeginOutcome => ({
  kind: 'refused',
  result: { id: op.id, status: 'rejected', collection: op.collection, docId: op.docId, error },
});

/** An earlier attempt with this id: answered as then (a refused one stays refused), unless its body differed. */
export function storedOutcome(op: ActionOp, stored: StoredOperation, fingerprint: string, loaded: Map<string, DocState>): BeginOutcome {
  if (!sameBody(stored, fingerprint)) return { kind: 'refused', result: reusedKey(op) };
  return stored.result.status === 'applied'
    ? { kind: 'duplicate', result: withDocument(stored.result, loaded) }
    : { kind: 'refused', result: stored.result };
}

export class StagedActionRunner implements ActionRunner {
  readonly mode = 'staged' as const;

  constructor(private readonly backend: StagedBackend) {}

  async begin(caller: CallerLike, op: ActionOp, authorize?: Authorize, fingerprint = fingerprintOf(op)): Promise<BeginOutcome> {
    const { storedById, loaded } = await this.backend.read(caller, op);
    const stored = storedById.get(op.id);
    if (stored) return storedOutcome(op, stored, fingerprint, loaded);
    // The same planning as the write at FIN will do: the ACK carries the result
    // the commit will produce unless the document changes meanwhile.
    const result = planOperations(asCaller(caller).clientId, [op], loaded, authorize).results[0] as OperationResult;
    if (result.status !== 'applied') return { kind: 'refused', result };
    const staged = { ...op, baseVersion: loaded.get(docKey(op.collection, op.docId))?.version ?? 0 };
    return {
      kind: 'open',
      result,
      action: {
        commit: async () => {
          // Logged with the fingerprint of the action as sent (the staged form adds a baseVersion).
          const r = (await this.backend.applyOperations(caller, [staged], authorize, [fingerprint])).results[0] as OperationResult;
          if (r.status === 'applied') return { kind: 'committed', ...(r.position === undefined ? {} : { position: r.position }) };
          if (r.status === 'duplicate' && r.originalStatus === 'applied') return { kind: 'committed', duplicate: true };
          return { kind: 'rolledBack', reason: 'conflict', error: r.error ?? errorRef('CONFLICT') };
        },
        // Nothing was written.
        rollback: async () => {},
      },
    };
  }

  async close(): Promise<void> {}
}

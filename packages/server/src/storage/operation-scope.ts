/**
 * Operation ids are scoped to their caller (DESIGN invariant 3): the operation
 * log is keyed by (scope, id), so one user's id never matches, blocks or
 * reveals another user's operation.
 *
 * - The scope is the authenticated user (`u:<user id>`), or, for an anonymous
 *   caller (open mode: no authentication, so no users), the client id
 *   (`c:<client id>`). The prefixes keep the two kinds apart.
 * - A client id belongs to the first authenticated user that uses it
 *   (`client_owners`); another user presenting it is refused with
 *   CLIENT_ID_TAKEN on every path (REST /operations and /changes, /sync push,
 *   /sendActions). Anonymous callers claim nothing: in open mode the client id
 *   is the scope.
 * - Each logged operation keeps a fingerprint of its body: the same id sent
 *   again by the same caller with a different body is answered
 *   IDEMPOTENCY_KEY_REUSED (nothing applied), not with the old result.
 */
import { createHash } from 'node:crypto';
import { type ErrorRef, errorRef, type OperationResult, SynclineError } from '@syncline/protocol';
import type { PlannedOp } from '../engine/plan-operations.js';

export interface Caller {
  clientId: string;
  /** The authenticated user; null for an anonymous caller (open mode), whose client id is its scope. */
  userId: string | null;
  /** The server made this client id up for one connection (/sendActions without one): no one owns it. */
  generated?: boolean;
}

/** A bare client id is an anonymous caller (open mode, and the storage's own tests). */
export type CallerLike = Caller | string;

export const asCaller = (c: CallerLike): Caller => (typeof c === 'string' ? { clientId: c, userId: null } : c);

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Longer ids are hashed, so the log's key stays small (MySQL indexes at most 3072 bytes). */
const MAX_SCOPE_ID = 200;

/** The operation-log scope of a caller: `u:<user>` or, anonymous, `c:<client id>`. */
export function operationScope(caller: CallerLike): string {
  const c = asCaller(caller);
  const [kind, id] = c.userId === null ? ['c', c.clientId] : ['u', c.userId];
  return id.length <= MAX_SCOPE_ID ? `${kind}:${id}` : `${kind}#${sha256(id)}`;
}

/** JSON with object keys sorted at every level: the same value always gives the same text. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * What an operation asks for, as the caller sent it: the fields that decide its
 * effect (not `timestamp`, `synced` or `sync`, which a retry may restamp), and
 * the docId only when the caller gave one (a generated one differs per attempt).
 */
export function opFingerprint(op: PlannedOp, docIdGiven: boolean): string {
  return sha256(
    canonicalJson({
      type: op.type,
      collection: op.collection,
      docId: docIdGiven ? op.docId : undefined,
      data: op.data,
      baseVersion: op.baseVersion,
      vectorClock: op.vectorClock,
      clientId: op.clientId,
    }),
  );
}

/** An operation's fingerprint, telling a client-given docId from a generated one (ActionOp/TableOp carry `idGiven`). */
export const fingerprintOf = (op: PlannedOp & { idGiven?: boolean }) => opFingerprint(op, op.idGiven !== false);

/** A logged operation of this caller: its stored result and body fingerprint (null: logged before fingerprints). */
export interface StoredOperation {
  result: OperationResult;
  fingerprint: string | null;
}

/** Whether a repeat of a stored id is the same operation (then it gets the original result). */
export const sameBody = (stored: StoredOperation, fingerprint: string) => stored.fingerprint === null || stored.fingerprint === fingerprint;

/** The answer to an id this caller already used for a different body: nothing applied, nothing of the old result. */
export function reusedKey(op: PlannedOp): OperationResult {
  return {
    id: op.id,
    status: 'rejected',
    collection: op.collection,
    docId: op.docId,
    error: errorRef('IDEMPOTENCY_KEY_REUSED', `Operation id ${JSON.stringify(op.id)} was already used with a different body.`),
  };
}

/** Client ids whose owner this process knows (owners never change, so a known one is never asked again). */
const MAX_KNOWN_OWNERS = 10_000;

/**
 * Who owns which client id. `claim(clientId, owner)` records `owner` if the
 * client id has none yet and returns the owner now recorded (the dialect's SQL).
 */
export class ClientOwners {
  private readonly known = new Map<string, string>();

  constructor(private readonly claim: (clientId: string, owner: string) => Promise<string>) {}

  /** Claims the caller's client id for its user; throws CLIENT_ID_TAKEN if another user owns it. */
  async check(caller: CallerLike): Promise<void> {
    if (await this.taken(caller)) throw new SynclineError('CLIENT_ID_TAKEN', undefined, { clientId: asCaller(caller).clientId });
  }

  /** The same claim, answered as a per-operation error (an action's NACK), or undefined when the caller may use the id. */
  async refusal(caller: CallerLike): Promise<ErrorRef | undefined> {
    return (await this.taken(caller)) ? errorRef('CLIENT_ID_TAKEN') : undefined;
  }

  private async taken(caller: CallerLike): Promise<boolean> {
    const c = asCaller(caller);
    if (c.userId === null || c.generated) return false;
    const me = operationScope(c);
    let owner = this.known.get(c.clientId);
    if (owner === undefined) {
      owner = await this.claim(c.clientId, me);
      if (this.known.size >= MAX_KNOWN_OWNERS) this.known.delete(this.known.keys().next().value as string);
      this.known.set(c.clientId, owner);
    }
    return owner !== me;
  }
}

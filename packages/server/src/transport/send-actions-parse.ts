/**
 * Validation of `/sendActions` payloads. A malformed batch is refused whole
 * (an `error` event); a malformed action alone (a NACK with a code, or an
 * `error` event when it has no usable id to NACK).
 */
import { createHash } from 'node:crypto';
import {
  type ErrorRef,
  errorRef,
  INVALID_TEXT_MESSAGE,
  isCollectionName,
  isStorableText,
  MAX_DOCUMENT_ID_LENGTH,
  SynclineError,
} from '@syncline/protocol';
import { validateOperation } from '../engine/validate-operation.js';
import type { ActionOp } from '../storage/action-runner.js';

export const ACTION_TYPES = ['CREATE', 'READ', 'UPDATE', 'DELETE'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];
const MAX_ACTION_ID_LENGTH = 128;

export type WireId = string | number;

export interface Action {
  /** The id as the client sent it, echoed in every reply. */
  wireId: WireId;
  /** `String(wireId)`: `1` and `"1"` name the same action. */
  key: string;
  type: ActionType;
  collection: string;
  docId: string;
  /** The write as an operation (absent for READ). */
  op?: ActionOp;
}

export type ParsedItem = { ok: true; action: Action } | { ok: false; wireId?: WireId; index: number; error: ErrorRef };

export interface ParseOptions {
  maxActions: number;
  /** Compat event `sendProductActions`: every action acts on this collection and ids are optional. */
  collection?: string;
  newActionId: () => string;
  newDocId: () => string;
  /** Operation id of an action key (see `operationId`). */
  opIdFor: (key: string) => string;
}

/** An action or record id: a non-empty string or a safe integer (the reference's ids are integers). */
export function asId(v: unknown, maxLength: number): string | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (typeof v === 'string' && v.length > 0 && v.length <= maxLength) return v;
  return undefined;
}

/**
 * The Syncline operation id of an action: client id + action id, so a retried
 * action (same client, same action id) is applied once. Length-prefixed so
 * that no two pairs collide; hashed when too long for an operation id.
 */
export function operationId(clientKey: string, actionKey: string): string {
  const id = `act:${clientKey.length}:${clientKey}:${actionKey}`;
  if (id.length <= 128) return id;
  return `act#${createHash('sha256').update(`${clientKey.length}:${clientKey}:${actionKey}`).digest('base64url')}`;
}

export function parseActions(payload: unknown, opts: ParseOptions): { error: SynclineError } | { items: ParsedItem[] } {
  if (!Array.isArray(payload)) {
    return { error: new SynclineError('VALIDATION_FAILED', 'actions: expected an array of {id, type, collection, data}.') };
  }
  if (payload.length > opts.maxActions) {
    return {
      error: new SynclineError('VALIDATION_FAILED', `actions: ${payload.length} actions in one batch; the limit is ${opts.maxActions}.`, {
        limit: opts.maxActions,
        received: payload.length,
      }),
    };
  }
  return { items: payload.map((raw, index) => parseAction(raw, index, opts)) };
}

function parseAction(raw: unknown, index: number, opts: ParseOptions): ParsedItem {
  const at = `actions[${index}]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, index, error: errorRef('VALIDATION_FAILED', `${at}: expected an object {id, type, collection, data}.`, at) };
  }
  const a = raw as Record<string, unknown>;
  const given = a.id === undefined && opts.collection !== undefined ? opts.newActionId() : a.id;
  const key = asId(given, MAX_ACTION_ID_LENGTH);
  if (key === undefined) {
    const message = `${at}.id: expected a non-empty string (at most ${MAX_ACTION_ID_LENGTH} characters) or an integer.`;
    return { ok: false, index, error: errorRef('VALIDATION_FAILED', message, `${at}.id`) };
  }
  const wireId = given as WireId;
  const fail = (code: Parameters<typeof errorRef>[0], message: string, path: string): ParsedItem => ({
    ok: false,
    wireId,
    index,
    error: errorRef(code, `${path}: ${message}`, path),
  });
  // Both ids end up in the database (the operation id, the record id): text it cannot store is refused.
  if (!isStorableText(key)) return fail('INVALID_TEXT', INVALID_TEXT_MESSAGE, `${at}.id`);

  const type = typeof a.type === 'string' ? a.type.toUpperCase() : undefined;
  if (!ACTION_TYPES.includes(type as ActionType))
    return fail('VALIDATION_FAILED', 'expected CREATE, READ, UPDATE or DELETE.', `${at}.type`);
  const collection = opts.collection ?? a.collection;
  if (!isCollectionName(collection))
    return fail('INVALID_COLLECTION', 'collection names must match [A-Za-z0-9_-]{1,64}.', `${at}.collection`);
  const data = a.data ?? (type === 'CREATE' ? {} : undefined);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return fail('VALIDATION_FAILED', 'expected an object (with the record id in data.id).', `${at}.data`);
  }
  const { id: rawDocId, ...fields } = data as Record<string, unknown>;
  let docId = asId(rawDocId, MAX_DOCUMENT_ID_LENGTH);
  if (docId !== undefined && !isStorableText(docId)) return fail('INVALID_TEXT', INVALID_TEXT_MESSAGE, `${at}.data.id`);
  if (rawDocId !== undefined && docId === undefined) {
    return fail(
      'INVALID_DOCUMENT_ID',
      `expected a non-empty string (at most ${MAX_DOCUMENT_ID_LENGTH} characters) or an integer.`,
      `${at}.data.id`,
    );
  }
  if (docId === undefined) {
    if (type !== 'CREATE') return fail('VALIDATION_FAILED', `${type} needs the record id in data.id.`, `${at}.data.id`);
    docId = opts.newDocId();
  }
  const action: Action = { wireId, key, type: type as ActionType, collection, docId };
  if (type === 'READ') return { ok: true, action };

  // UPDATE is a patch: the given fields are merged shallowly into the record; fields not sent stay.
  const opType = type === 'CREATE' ? 'insert' : type === 'UPDATE' ? 'patch' : 'delete';
  const candidate = { id: opts.opIdFor(key), type: opType, collection, docId, ...(opType === 'delete' ? {} : { data: fields }) };
  // The operation checks of POST /operations (__proto__ keys, nesting depth, sizes).
  const v = validateOperation(candidate, index, () => docId);
  if (!v.ok) {
    const e = v.result.error ?? errorRef('VALIDATION_FAILED');
    const rename = (s: string) => s.replaceAll(`operations[${index}]`, at);
    return {
      ok: false,
      wireId,
      index,
      error: { ...e, message: rename(e.message), ...(e.path === undefined ? {} : { path: rename(e.path) }) },
    };
  }
  action.op = { ...v.op, idGiven: rawDocId !== undefined } as ActionOp;
  return { ok: true, action };
}

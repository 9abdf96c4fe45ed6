/**
 * Writes through the API on table collections (TABLE_NAMES): each operation
 * becomes one parameterized INSERT / UPDATE / DELETE on the table's real
 * columns, in the caller's transaction, inside its own savepoint, so a
 * constraint violation rejects that operation alone. The table's capture
 * triggers record the change (one write path); this module never touches the
 * change log. Dialects (PostgreSQL/PGlite, MySQL) implement `TableDialect`.
 *
 * A table row as a document: `_id` is the primary key as text, the data is the
 * whole row (primary key column included), `_rev` is the row's version (1 on
 * insert, +1 per update, kept by the capture triggers in `row_versions`).
 * `update`, `patch` and `upsert` set the columns they name and keep the others
 * (SQL UPDATE semantics). Every updated row counts as changed (as a row trigger
 * would see it), so the version in a result is always the stored one.
 * Conflicts are detected by `baseVersion` and existence; table rows keep no
 * vector clock (it is always `{}`).
 */
import { type ErrorCode, errorRef, type OperationResult, type WireDocument } from '@syncline/protocol';
import { type Authorize, docKey, type PlannedOp } from '../engine/plan-operations.js';
import type { PlanInput } from './write-statement.js';

export interface TableColumn {
  name: string;
  /** The database's type name (information_schema DATA_TYPE / udt_name). */
  type: string;
  nullable: boolean;
  /** Has a default or is generated (serial, identity, auto_increment). */
  hasDefault: boolean;
}

export interface TableInfo {
  /** Collection name = table name as configured. */
  collection: string;
  /** The table's name in the database. */
  table: string;
  /** Primary key column (single-column keys only). */
  pk: string;
  /** Integer keys take digit strings as ids; text keys take any id. */
  pkKind: 'integer' | 'text';
  /** The database fills the key on insert (serial/identity/auto_increment/default). */
  pkGenerated: boolean;
  columns: Map<string, TableColumn>;
}

export interface RowState {
  data: Record<string, unknown>;
  version: number;
}

/** An operation on a table collection; `idGiven`: the client sent the docId (else the database may generate the key). */
export type TableOp = PlannedOp & { idGiven: boolean };

export type ConstraintKind = 'foreign_key' | 'unique' | 'not_null' | 'check' | 'invalid_value';

/** The SQL of table writes in one dialect. `q` is the caller's transaction. */
export interface TableDialect<Q> {
  /** The row and its version, or null; `lock` (default true) locks it for update. */
  readRow(q: Q, t: TableInfo, id: string, lock?: boolean): Promise<RowState | null>;
  /** Inserts and returns the stored row (with generated key and defaults). */
  insertRow(q: Q, t: TableInfo, values: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Updates the given columns (none: touches the row, `SET pk = pk`) and returns the stored row. */
  updateRow(q: Q, t: TableInfo, id: string, values: Record<string, unknown>): Promise<Record<string, unknown>>;
  deleteRow(q: Q, t: TableInfo, id: string): Promise<void>;
  /** The next statements of this transaction are this API operation's (source `api`, its op id and client id). */
  setWriter(q: Q, opId: string, clientId: string): Promise<void>;
  savepoint(q: Q): Promise<void>;
  /** Rolls back to the savepoint and releases it. */
  rollbackToSavepoint(q: Q): Promise<void>;
  releaseSavepoint(q: Q): Promise<void>;
  /** A driver error that is a constraint violation (or a value the column rejects), else undefined. */
  constraintError(err: unknown): { kind: ConstraintKind; constraint?: string; message: string } | undefined;
}

const toWire = (id: string, row: RowState): WireDocument => ({ ...row.data, _id: id, _rev: row.version });

/**
 * Applies table operations in order in the caller's transaction. Returns one
 * result per operation (inserts without a docId get the generated key) and
 * whether anything was written.
 */
export async function applyTableOps<Q>(
  q: Q,
  dialect: TableDialect<Q>,
  tables: ReadonlyMap<string, TableInfo>,
  clientId: string,
  ops: readonly TableOp[],
  authorize?: Authorize,
): Promise<{ results: OperationResult[]; wrote: boolean }> {
  const results: OperationResult[] = [];
  let wrote = false;
  for (const op of ops) {
    const t = tables.get(op.collection);
    if (!t) throw new Error(`not a table collection: ${op.collection}`);
    const r = await applyOne(q, dialect, t, clientId, op, authorize);
    if (r.status === 'applied') wrote = true;
    results.push(r);
  }
  return { results, wrote };
}

async function applyOne<Q>(
  q: Q,
  dialect: TableDialect<Q>,
  t: TableInfo,
  clientId: string,
  op: TableOp,
  authorize?: Authorize,
): Promise<OperationResult> {
  // A key the database will generate is not known before the write.
  const keyed = op.idGiven || !t.pkGenerated || op.type !== 'insert';
  const base = keyed ? { id: op.id, collection: op.collection, docId: op.docId } : { id: op.id, collection: op.collection };
  const reject = (status: 'rejected' | 'conflict', code: ErrorCode, message?: string, current?: RowState | null, path?: string) => {
    const r: OperationResult = { ...base, status, error: errorRef(code, message, path) };
    if (current !== undefined) r.serverDocument = current ? toWire(op.docId, current) : null;
    return r;
  };

  // Values: only real columns; the key comes from docId.
  const values: Record<string, unknown> = {};
  if (op.type !== 'delete') {
    for (const [k, v] of Object.entries(op.data ?? {})) {
      if (k === '_id' || k === '_rev') continue;
      if (!t.columns.has(k)) {
        return reject('rejected', 'UNKNOWN_COLUMN', `table ${t.table} has no column ${JSON.stringify(k)}`, undefined, `data.${k}`);
      }
      values[k] = v;
    }
  }
  const generateKey = op.type === 'insert' && !op.idGiven && t.pkGenerated;
  if (!generateKey) {
    if (t.pkKind === 'integer' && !/^-?\d{1,18}$/.test(op.docId)) {
      return reject('rejected', 'INVALID_DOCUMENT_ID', `table ${t.table} has an integer key; docId must be an integer`, undefined, 'docId');
    }
    if (values[t.pk] !== undefined && String(values[t.pk]) !== op.docId) {
      return reject(
        'rejected',
        'VALIDATION_FAILED',
        `data.${t.pk} must equal docId (the primary key cannot be changed)`,
        undefined,
        `data.${t.pk}`,
      );
    }
    delete values[t.pk];
  } else if (values[t.pk] !== undefined) {
    return reject(
      'rejected',
      'VALIDATION_FAILED',
      `data.${t.pk}: the key is generated by the database; leave it out or send docId`,
      undefined,
      `data.${t.pk}`,
    );
  }

  await dialect.savepoint(q);
  try {
    const current = generateKey ? null : await dialect.readRow(q, t, op.docId);
    if (op.type === 'insert' && current) return await undo(reject('conflict', 'DOCUMENT_EXISTS', undefined, current));
    if ((op.type === 'update' || op.type === 'patch' || op.type === 'delete') && !current) {
      return await undo(reject('rejected', 'DOCUMENT_NOT_FOUND', undefined, null));
    }
    if (op.baseVersion !== undefined && op.baseVersion !== (current?.version ?? 0)) {
      return await undo(reject('conflict', 'VERSION_MISMATCH', undefined, current));
    }
    if (authorize) {
      const kind = op.type === 'delete' ? 'delete' : current ? 'update' : 'insert';
      // The row as it would be (a generated key is not known yet; rules on the key see it missing).
      const key = generateKey ? {} : { [t.pk]: current?.data[t.pk] ?? op.docId };
      const after =
        op.type === 'delete'
          ? null
          : toWire(op.docId, { data: { ...(current?.data ?? {}), ...values, ...key }, version: (current?.version ?? 0) + 1 });
      const verdict = authorize(kind, op.collection, current ? toWire(op.docId, current) : null, after, values);
      if (verdict !== true) {
        return await undo(
          verdict === false ? reject('rejected', 'FORBIDDEN') : reject('rejected', verdict.code, verdict.message, undefined, verdict.path),
        );
      }
    }
    await dialect.setWriter(q, op.id, op.clientId ?? clientId);
    let row: Record<string, unknown> | null;
    if (op.type === 'delete') {
      await dialect.deleteRow(q, t, op.docId);
      row = null;
    } else if (current) {
      // update, patch and upsert set the columns they name; SQL rows keep the others.
      row = await dialect.updateRow(q, t, op.docId, values);
    } else {
      row = await dialect.insertRow(q, t, generateKey ? values : { ...values, [t.pk]: op.docId });
    }
    await dialect.releaseSavepoint(q);
    const docId = row ? String(row[t.pk]) : op.docId;
    const version = (current?.version ?? 0) + 1;
    return {
      ...base,
      docId,
      status: 'applied',
      document: row ? toWire(docId, { data: row, version }) : null,
      version,
      vectorClock: {},
    };
  } catch (err) {
    const c = dialect.constraintError(err);
    await dialect.rollbackToSavepoint(q);
    if (!c) throw err;
    const where = c.constraint ? ` (${c.kind} ${c.constraint})` : ` (${c.kind})`;
    return reject('rejected', 'CONSTRAINT_VIOLATION', `table ${t.table}${where}: ${c.message}`);
  }

  async function undo(r: OperationResult): Promise<OperationResult> {
    await dialect.rollbackToSavepoint(q);
    return r;
  }
}

/**
 * A staged action on a table row is planned like one on a document: the plan
 * input gets the row (as it is now) in place of a document.
 */
export async function withTableRow<Q>(input: PlanInput, q: Q, dialect: TableDialect<Q>, t: TableInfo, op: PlannedOp): Promise<PlanInput> {
  const row = await dialect.readRow(q, t, op.docId, false);
  const key = docKey(op.collection, op.docId);
  input.loaded.delete(key);
  // Table rows keep no vector clock.
  if (row)
    input.loaded.set(key, { collection: op.collection, id: op.docId, data: row.data, version: row.version, vclock: {}, deleted: false });
  return input;
}

/**
 * The storage every transport reads through: what leaves the server never
 * carries a hidden field (FILTERS, rules' `hidden`, server metadata such as
 * `_hlc`; DESIGN invariant 5) nor a change's server-only `old` row. The change
 * feed reads the raw storage (routing needs old rows and every column);
 * namespaces that deliver feed changes call `publicChange`.
 */
import type { Change, ChangesResponse, OperationResult, PushResponse, WireDocument } from '@syncline/protocol';
import type { ActionRunner } from '../storage/action-runner.js';
import type { ChangesQuery, Storage } from '../storage/storage.js';
import { storageView } from '../storage/storage-view.js';
import type { Identity } from './authenticate.js';
import { type ColumnFilters, STAMPS } from './column-filters.js';
import type { Policy } from './policy.js';

/** A change as clients may see it: without `old`, without hidden fields (FILTERS, rules' `hidden`, server metadata). */
export function publicChange(change: Change, filters: ColumnFilters): Change {
  const data = filters.redact(change.collection, change.data);
  if (change.old === undefined && data === change.data) return change;
  const { old: _old, ...rest } = change;
  return { ...rest, data };
}

/**
 * A write's result as its caller sees it. `keepStamps`: the operation carried
 * merge stamps (`_hlc`, the client's `conflict: 'merge'`), so the server's
 * stamps stay in the document it conflicted with: they are that strategy's input.
 */
function publicResult(r: OperationResult, filters: ColumnFilters, keepStamps = false): OperationResult {
  if (!r.collection) return r;
  const collection = r.collection;
  const document = r.document ? filters.redact(collection, r.document) : r.document;
  const serverDocument = r.serverDocument ? filters.redact(collection, r.serverDocument, keepStamps) : r.serverDocument;
  if (document === r.document && serverDocument === r.serverDocument) return r;
  const out = { ...r };
  if (document) out.document = document;
  if (serverDocument) out.serverDocument = serverDocument;
  return out;
}

/** Whether an operation (raw, as sent) carries merge stamps. */
const stamped = (o: unknown): boolean => {
  const data = (o as { data?: unknown } | null)?.data;
  return typeof data === 'object' && data !== null && Object.hasOwn(data, STAMPS);
};

export function publicStorage(storage: Storage, filters: ColumnFilters): Storage {
  const changes = (res: ChangesResponse): ChangesResponse => ({
    ...res,
    operations: res.operations.map((c) => publicChange(c, filters)),
  });
  // Even the echo of the client's own operations is redacted: hidden fields never leave the server.
  const op = <T extends { collection: string; data?: Record<string, unknown> | undefined }>(o: T): T => {
    const data = o.data && filters.redact(o.collection, o.data);
    return data === o.data ? o : { ...o, data };
  };
  const push = (res: PushResponse, operations: unknown[]): PushResponse => {
    const withStamps = new Set<string>();
    for (const o of operations) if (stamped(o)) withStamps.add(String((o as { id?: unknown }).id));
    return {
      accepted: res.accepted.map(op),
      results: res.results.map((r) => publicResult(r, filters, withStamps.has(r.id))),
      conflicts: res.conflicts.map((c) => ({
        ...c,
        operation: op(c.operation),
        serverDocument: filters.redact(c.operation.collection, c.serverDocument, stamped(c.operation)),
      })),
    };
  };
  const overrides: Partial<Storage> = {
    applyOperations: async (caller, operations, authorize) =>
      push(await storage.applyOperations(caller, operations, authorize), operations),
    getChanges: async (req) => changes(await storage.getChanges(req)),
    // The fast path pastes stored JSON; a page that may hold a hidden field is serialized again without it.
    getChangesJson: async (req) => {
      const json = await storage.getChangesJson(req);
      return filters.mayHold(json) ? JSON.stringify(changes(JSON.parse(json) as ChangesResponse)) : json;
    },
    getDocument: async (collection, id) => filters.redact(collection, await storage.getDocument(collection, id)) as WireDocument | null,
    queryDocuments: async (collection, req) => {
      const res = await storage.queryDocuments(collection, req);
      const documents = res.documents.map((d) => filters.redact(collection, d));
      return documents.some((d, i) => d !== res.documents[i]) ? { ...res, documents } : res;
    },
  };
  if (storage.createActionRunner) {
    const create = storage.createActionRunner.bind(storage);
    overrides.createActionRunner = async (options) => {
      const runner = await create(options);
      const wrapped: ActionRunner = {
        mode: runner.mode,
        begin: async (caller, op, authorize) => {
          const outcome = await runner.begin(caller, op, authorize);
          return { ...outcome, result: publicResult(outcome.result, filters, stamped(op)) } as typeof outcome;
        },
        close: () => runner.close(),
      };
      return wrapped;
    };
  }
  return storageView(storage, overrides);
}

/**
 * A pull as `who` may see it: raw changes (they carry old rows, which decide
 * whether a change left the caller's reach) through the read rules, then
 * redacted. The checkpoint is the page's: it passes what the caller may not see.
 */
export async function visibleChanges(
  raw: Storage,
  filters: ColumnFilters,
  policy: Policy,
  query: ChangesQuery,
  who: Identity,
): Promise<ChangesResponse> {
  const page = await raw.getChanges(query);
  const operations: Change[] = [];
  for (const c of page.operations) {
    const visible = policy.visibleChange(c, who);
    if (visible) operations.push(publicChange(visible, filters));
  }
  return { ...page, operations };
}

/**
 * The storage every transport reads through: what leaves the server never
 * carries a FILTERS column (DESIGN invariant 5) nor a change's server-only
 * `old` row. The change feed reads the raw storage (routing needs old rows and
 * every column); namespaces that deliver feed changes call `publicChange`.
 */
import type { Change, ChangesResponse, OperationResult, PushResponse, WireDocument } from '@syncline/protocol';
import type { ActionRunner } from '../storage/action-runner.js';
import type { ChangesQuery, Storage } from '../storage/storage.js';
import { storageView } from '../storage/storage-view.js';
import type { Identity } from './authenticate.js';
import type { ColumnFilters } from './column-filters.js';
import type { Policy } from './policy.js';

/** A change as clients may see it: without `old`, without filtered columns. */
export function publicChange(change: Change, filters: ColumnFilters): Change {
  if (change.old === undefined && !filters.has(change.collection)) return change;
  const { old: _old, ...rest } = change;
  return { ...rest, data: filters.redact(change.collection, change.data) };
}

function publicResult(r: OperationResult, filters: ColumnFilters): OperationResult {
  if (!r.collection || !filters.has(r.collection)) return r;
  const out = { ...r };
  if (r.document) out.document = filters.redact(r.collection, r.document);
  if (r.serverDocument) out.serverDocument = filters.redact(r.collection, r.serverDocument);
  return out;
}

export function publicStorage(storage: Storage, filters: ColumnFilters): Storage {
  const changes = (res: ChangesResponse): ChangesResponse => ({
    ...res,
    operations: res.operations.map((c) => publicChange(c, filters)),
  });
  // Even the echo of the client's own operations is redacted: filtered columns never leave the server.
  const op = <T extends { collection: string; data?: Record<string, unknown> | undefined }>(o: T): T =>
    o.data && filters.has(o.collection) ? { ...o, data: filters.redact(o.collection, o.data) } : o;
  const push = (res: PushResponse): PushResponse =>
    filters.isEmpty
      ? res
      : {
          accepted: res.accepted.map(op),
          results: res.results.map((r) => publicResult(r, filters)),
          conflicts: res.conflicts.map((c) => ({
            ...c,
            operation: op(c.operation),
            serverDocument: filters.redact(c.operation.collection, c.serverDocument),
          })),
        };
  const overrides: Partial<Storage> = {
    applyOperations: async (caller, operations, authorize) => push(await storage.applyOperations(caller, operations, authorize)),
    getChanges: async (req) => changes(await storage.getChanges(req)),
    // The fast path pastes stored JSON; with filters it cannot, so those pages are serialized again.
    getChangesJson: async (req) => (filters.isEmpty ? storage.getChangesJson(req) : JSON.stringify(changes(await storage.getChanges(req)))),
    getDocument: async (collection, id) => filters.redact(collection, await storage.getDocument(collection, id)) as WireDocument | null,
    queryDocuments: async (collection, req) => {
      const res = await storage.queryDocuments(collection, req);
      return filters.has(collection) ? { ...res, documents: res.documents.map((d) => filters.redact(collection, d)) } : res;
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
          return { ...outcome, result: publicResult(outcome.result, filters) } as typeof outcome;
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

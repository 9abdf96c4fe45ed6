/**
 * `GET /stats` from the parts each storage reads in its own SQL. Table
 * collections are counted too: exactly while small, from the database's own
 * estimate once large (an admin page polling /stats must not scan big tables).
 */
import type { StatsResponse } from '@syncline/protocol';

/** Above this many rows (by the planner's estimate) a table's count is the estimate. */
export const EXACT_COUNT_LIMIT = 100_000;

export interface StatsParts {
  ops: number | string | null | undefined;
  head: number | string | null | undefined;
  horizon: number | string | null | undefined;
  clients: number | string | null | undefined;
  unsynced: number;
  collections: { collection: string; live: number | string; deleted: number | string }[];
}

export function statsResponse(p: StatsParts): StatsResponse {
  const collections: StatsResponse['collections'] = {};
  let totalDocuments = 0;
  for (const r of p.collections) {
    const prev = collections[r.collection];
    const live = Number(r.live) + (prev?.documents ?? 0);
    collections[r.collection] = { documents: live, deleted: Number(r.deleted) + (prev?.deleted ?? 0) };
    totalDocuments += Number(r.live);
  }
  const horizon = Number(p.horizon ?? 0);
  return {
    totalOperations: Number(p.ops ?? 0),
    totalDocuments,
    unsyncedOperations: p.unsynced,
    collections,
    position: Math.max(Number(p.head ?? 0), horizon),
    horizon,
    clients: Number(p.clients ?? 0),
  };
}

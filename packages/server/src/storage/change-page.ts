/**
 * Reading a page of the change log. Document bodies stay JSON text from the
 * database to the wire: `changesJson` pastes them into the response instead of
 * parsing and re-serializing every change (pull throughput is mostly that).
 */
import type { Change, ChangesResponse } from '@syncline/protocol';
import type { SqlQueryable } from './sql-client.js';

export interface ChangeRow {
  position: number;
  collection: string;
  doc_id: string;
  type: Change['type'];
  /** JSON text, or null for a delete. */
  data: string | null;
  version: number;
  /** JSON text. */
  vclock: string;
  op_id: string | null;
  client_id: string | null;
  source: Change['source'];
  /** Commit time, ms since epoch. */
  ts: number;
  /** JSON text: a table row's old values (see Change.old), or null. Server-side only. */
  old: string | null;
}

export interface ChangePage {
  rows: ChangeRow[];
  checkpoint: number;
  hasMore: boolean;
}

/**
 * One statement = one snapshot: the header row (head position, horizon) and
 * the page agree. Returns up to `limit + 1` rows so the caller knows hasMore.
 */
export async function readChanges(db: SqlQueryable, schema: string, since: number, limit: number) {
  const { rows } = await db.query<ChangeRow & { head: number | null; horizon: number | null }>(
    `SELECT NULL::bigint AS position, NULL AS collection, NULL AS doc_id, NULL AS type, NULL AS data,
            NULL::integer AS version, NULL AS vclock, NULL AS op_id, NULL AS client_id, NULL AS source, NULL::bigint AS ts,
            NULL AS old, ${schema}.head_position() AS head, ${schema}.horizon() AS horizon
     UNION ALL
     SELECT pos, collection, doc_id, type, data::text, version, vclock::text, op_id, client_id, source,
            (extract(epoch FROM committed_at) * 1000)::bigint, old_data::text, NULL, NULL
     FROM ${schema}.changes_after($1, $2)`,
    [since, limit + 1],
  );
  let head = 0;
  let horizon = 0;
  const page: ChangeRow[] = [];
  for (const r of rows) {
    if (r.head !== null) {
      head = Number(r.head);
      horizon = Number(r.horizon);
    } else page.push(r);
  }
  // changes_after returns position order; keep that guarantee independent of the plan.
  for (let i = 1; i < page.length; i++) {
    if ((page[i] as ChangeRow).position < (page[i - 1] as ChangeRow).position) {
      page.sort((a, b) => a.position - b.position);
      break;
    }
  }
  return { page, head, horizon };
}

export function toChange(r: ChangeRow): Change {
  const change: Change = {
    position: r.position,
    id: r.op_id ?? `chg-${r.position}`,
    type: r.type,
    collection: r.collection,
    docId: r.doc_id,
    data: r.data === null ? null : JSON.parse(r.data),
    version: r.version,
    vectorClock: JSON.parse(r.vclock),
    timestamp: Number(r.ts),
    clientId: r.client_id,
    source: r.source,
    synced: true,
  };
  if (r.old !== null && r.old !== undefined) change.old = JSON.parse(r.old);
  return change;
}

const str = JSON.stringify;

/** The `POST /changes` response body, byte-for-byte what JSON.stringify(ChangesResponse) would carry. */
export function changesJson(p: ChangePage): string {
  const parts: string[] = [];
  for (const r of p.rows) {
    parts.push(
      `{"position":${r.position},"id":${str(r.op_id ?? `chg-${r.position}`)},"type":${str(r.type)},` +
        `"collection":${str(r.collection)},"docId":${str(r.doc_id)},"data":${r.data ?? 'null'},"version":${r.version},` +
        `"vectorClock":${r.vclock},"timestamp":${Number(r.ts)},"clientId":${r.client_id === null ? 'null' : str(r.client_id)},` +
        `"source":${str(r.source)},"synced":true}`,
    );
  }
  return `{"operations":[${parts.join(',')}],"conflicts":[],"checkpoint":${p.checkpoint},"hasMore":${p.hasMore}}`;
}

export function changesResponse(p: ChangePage): ChangesResponse {
  return { operations: p.rows.map(toChange), conflicts: [], checkpoint: p.checkpoint, hasMore: p.hasMore };
}

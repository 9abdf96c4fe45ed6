/**
 * The Syncline side of each scenario, over HTTP: push batches of inserts and
 * page through the change log. Every reply is checked; a wrong one throws a
 * CorrectnessError.
 */
import { CorrectnessError, docData, type JsonClient, now, postgresCpuSeconds, processCpuSeconds } from './harness.js';

/** The parts of the wire format the bench relies on (see packages/protocol). */
interface PushReply {
  results: { id: string; status: string; error?: unknown }[];
}
interface ChangesReply {
  operations: { position: number; docId: string; type: string; collection: string }[];
  checkpoint: number;
  hasMore: boolean;
}

let runTag = Date.now().toString(36);
export const setRunTag = (tag: string) => {
  runTag = tag;
};

export interface Pusher {
  /** One POST /operations of `batch` fresh inserts; resolves with the number applied (always `batch`). */
  task: (worker: number) => Promise<number>;
  /** Operations applied so far (including warm-up and uncounted tails). */
  applied(): number;
}

export function pusher(client: JsonClient, batch: number, collection = 'items'): Pusher {
  const seq: number[] = [];
  let applied = 0;
  let n = 0;
  return {
    applied: () => applied,
    async task(worker) {
      const base = seq[worker] ?? 0;
      seq[worker] = base + batch;
      const clientId = `bench-${runTag}-w${worker}`;
      const operations = new Array(batch);
      for (let i = 0; i < batch; i++) {
        const k = base + i;
        operations[i] = {
          id: `${clientId}-op${k}`,
          type: 'insert',
          collection,
          docId: `${clientId}-d${k}`,
          data: docData(n++),
        };
      }
      const reply = await client.post<PushReply>('/operations', { clientId, operations });
      const results = reply.results;
      if (!Array.isArray(results) || results.length !== batch) {
        throw new CorrectnessError(`push: expected ${batch} results, got ${Array.isArray(results) ? results.length : typeof results}`);
      }
      for (let i = 0; i < batch; i++) {
        const r = results[i];
        if (r?.status !== 'applied' || r.id !== operations[i].id) {
          throw new CorrectnessError(`push: operation ${operations[i].id} was not applied: ${JSON.stringify(r).slice(0, 400)}`);
        }
      }
      applied += batch;
      return batch;
    },
  };
}

export interface PullResult {
  changes: number;
  pages: number;
  seconds: number;
  perSecond: number;
  /** Response size, and the bench's own JSON.parse time, per page. */
  kibPerPage: number;
  parseMsPerPage: number;
  /** CPU milliseconds per page: the bench process, and if asked the server child and PostgreSQL. */
  cpuMsPerPage: { bench: number; server?: number; postgres?: number };
}

export interface PullOptions {
  expected?: number;
  /** Stop after this many pages (warm-up). */
  maxPages?: number;
  serverPid?: number;
  postgresCpu?: boolean;
}

/**
 * Pages through POST /changes from `since` 0 following `checkpoint` until
 * `hasMore` is false (or `maxPages` pages were read, for a warm-up). Checks
 * positions strictly increase, no document repeats, and the total.
 */
export async function pullAll(client: JsonClient, limit: number, opts: PullOptions = {}): Promise<PullResult> {
  const { expected, maxPages = Infinity } = opts;
  let since = 0;
  let changes = 0;
  let pages = 0;
  const seen = new Set<string>();
  const rx0 = { ...client.received };
  const cpu0 = {
    bench: process.cpuUsage(),
    server: opts.serverPid ? processCpuSeconds(opts.serverPid) : 0,
    pg: opts.postgresCpu ? postgresCpuSeconds() : 0,
  };
  const t0 = now();
  for (;;) {
    const page = await client.post<ChangesReply>('/changes', { since, limit });
    pages++;
    const ops = page.operations;
    if (!Array.isArray(ops)) throw new CorrectnessError(`pull: no operations array at since=${since}`);
    if (ops.length > limit) throw new CorrectnessError(`pull: ${ops.length} changes for limit ${limit}`);
    let last = since;
    for (const c of ops) {
      if (!(c.position > last)) throw new CorrectnessError(`pull: position ${c.position} after ${last} (since=${since})`);
      last = c.position;
      const key = `${c.collection}/${c.docId}`;
      if (seen.has(key)) throw new CorrectnessError(`pull: document ${key} delivered twice`);
      seen.add(key);
    }
    changes += ops.length;
    if (page.hasMore && ops.length === 0) throw new CorrectnessError(`pull: empty page with hasMore at since=${since}`);
    if (!(page.checkpoint >= last)) throw new CorrectnessError(`pull: checkpoint ${page.checkpoint} below last position ${last}`);
    since = page.checkpoint;
    if (!page.hasMore || pages >= maxPages) break;
  }
  const seconds = (now() - t0) / 1000;
  const bench = process.cpuUsage(cpu0.bench);
  const cpuMsPerPage: PullResult['cpuMsPerPage'] = { bench: (bench.user + bench.system) / 1000 / pages };
  if (opts.serverPid) cpuMsPerPage.server = ((processCpuSeconds(opts.serverPid) - cpu0.server) * 1000) / pages;
  if (opts.postgresCpu) cpuMsPerPage.postgres = ((postgresCpuSeconds() - cpu0.pg) * 1000) / pages;
  if (expected !== undefined && changes !== expected) {
    throw new CorrectnessError(`pull: got ${changes} changes, expected exactly ${expected}`);
  }
  return {
    changes,
    pages,
    seconds,
    perSecond: changes / seconds,
    kibPerPage: (client.received.bytes - rx0.bytes) / 1024 / pages,
    parseMsPerPage: (client.received.parseMs - rx0.parseMs) / pages,
    cpuMsPerPage,
  };
}

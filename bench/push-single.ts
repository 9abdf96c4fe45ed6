/**
 * push-single (issue 14): what an SDK client sends for each user action, one
 * operation per request, from 8 and 32 concurrent writers: `POST /operations`
 * and `/sync` `push`, against raw single-row INSERT transactions through `pg`
 * at the same concurrency (each its own transaction, autocommit). Target:
 * Syncline ≥ 0.5× the raw inserts. Every acknowledged operation must be a
 * document with a position (checked).
 */
import pg from 'pg';
import { io, type Socket } from 'socket.io-client';
import { admin, CorrectnessError, docData, round, runTimed, startServer, type TimedResult, timedDetails } from './harness.js';
import { failed, type Result, result } from './report.js';
import { pusher } from './workload.js';

export interface PushSingleConfig {
  databaseUrl: string;
  writers: number[];
  warmupMs: number;
  measureMs: number;
  keep: boolean;
  /** Markers churned through open_tx (autovacuum off on it) after the server started; 0: none. */
  churn?: number;
  cpuProfDir?: string;
  log: (msg: string) => void;
}

const SCHEMA = 'bench_push_single';
const RAW_TABLE = 'bench_raw_single';
const TARGET = 0.5;

interface PushAck {
  ok: boolean;
  results?: { id: string; status: string; position?: number }[];
  error?: unknown;
}

async function rawSingle(cfg: PushSingleConfig, writers: number): Promise<TimedResult> {
  await admin(cfg.databaseUrl, (c) =>
    c.query(`DROP TABLE IF EXISTS ${RAW_TABLE};
      CREATE TABLE ${RAW_TABLE} (collection text, id text, data jsonb, PRIMARY KEY (collection, id)); CHECKPOINT`),
  );
  const conns = await Promise.all(
    Array.from({ length: writers }, async () => {
      const c = new pg.Client({ connectionString: cfg.databaseUrl });
      await c.connect();
      return c;
    }),
  );
  const seq: number[] = [];
  try {
    return await runTimed({
      workers: writers,
      warmupMs: cfg.warmupMs,
      measureMs: cfg.measureMs,
      postgresCpu: true,
      async task(w) {
        const k = (seq[w] ?? 0) + 1;
        seq[w] = k;
        const r = await (conns[w] as pg.Client).query(`INSERT INTO ${RAW_TABLE} (collection, id, data) VALUES ('items', $1, $2)`, [
          `w${w}-${k}`,
          JSON.stringify(docData(k)),
        ]);
        if (r.rowCount !== 1) throw new CorrectnessError(`raw single insert: ${r.rowCount} rows`);
        return 1;
      },
    });
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
}

/** One /sync socket per writer, each pushing one insert per `push` and awaiting its acknowledgement. */
async function syncPusher(port: number, writers: number, tag: string) {
  const sockets: Socket[] = await Promise.all(
    Array.from(
      { length: writers },
      (_, w) =>
        new Promise<Socket>((resolve, reject) => {
          const s = io(`http://127.0.0.1:${port}/sync`, { transports: ['websocket'], forceNew: true, reconnection: false });
          s.once('connect', () => resolve(s));
          s.once('connect_error', (e) => reject(new Error(`socket ${w}: ${e.message}`)));
        }),
    ),
  );
  const seq: number[] = [];
  let applied = 0;
  return {
    applied: () => applied,
    close: () => {
      for (const s of sockets) s.disconnect();
    },
    async task(w: number) {
      const k = (seq[w] ?? 0) + 1;
      seq[w] = k;
      const clientId = `sync-${tag}-w${w}`;
      const op = { id: `${clientId}-op${k}`, type: 'insert', collection: 'items', docId: `${clientId}-d${k}`, data: docData(k) };
      const ack = await new Promise<PushAck>((resolve) => (sockets[w] as Socket).emit('push', { clientId, operations: [op] }, resolve));
      const r = ack.results?.[0];
      if (!ack.ok || r?.status !== 'applied' || r.id !== op.id || !(Number(r.position) > 0)) {
        throw new CorrectnessError(`/sync push: operation ${op.id} not applied: ${JSON.stringify(ack).slice(0, 300)}`);
      }
      applied++;
      return 1;
    },
  };
}

/** Rows: for each writer count, REST and /sync beside the raw single-row transactions measured in the same run. */
export async function pushSingle(cfg: PushSingleConfig, label = ''): Promise<Result[]> {
  const out: Result[] = [];
  for (const writers of cfg.writers) {
    const restName = `push-single REST ${writers} writers${label}`;
    const syncName = `push-single /sync ${writers} writers${label}`;
    try {
      await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`));
      const server = await startServer({
        label: `push-single-${writers}`,
        env: { DATABASE_URL: cfg.databaseUrl, SYNCLINE_SCHEMA: SCHEMA, DATABASE_POOL_SIZE: String(Math.max(10, writers + 4)) },
        sockets: writers,
        ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
      });
      if (cfg.churn) {
        // A queue table's history as a busy database leaves it between vacuums (ids no transaction has).
        cfg.log(`  churning ${cfg.churn} markers through ${SCHEMA}.open_tx, autovacuum off on it`);
        await admin(cfg.databaseUrl, (c) =>
          c.query(`ALTER TABLE ${SCHEMA}.open_tx SET (autovacuum_enabled = false);
            INSERT INTO ${SCHEMA}.open_tx (tx, api) SELECT (g + 4000000000000)::text::xid8, false FROM generate_series(1, ${cfg.churn}) g;
            DELETE FROM ${SCHEMA}.open_tx WHERE tx >= '4000000000000'::xid8`),
        );
      }
      let rest: TimedResult;
      let sync: TimedResult;
      let applied = 0;
      try {
        cfg.log(`${restName}: Syncline POST /operations, one insert per request`);
        const p = pusher(server.client, 1);
        rest = await runTimed({ workers: writers, warmupMs: cfg.warmupMs, measureMs: cfg.measureMs, task: p.task, serverPid: server.pid });
        applied += p.applied();
        cfg.log(`  ${Math.round(rest.perSecond)} ops/s (p50 ${rest.p50.toFixed(1)} ms)`);
        cfg.log(`${syncName}: Syncline /sync push, one insert per push`);
        const sp = await syncPusher(server.port, writers, `${Date.now().toString(36)}`);
        try {
          sync = await runTimed({
            workers: writers,
            warmupMs: cfg.warmupMs,
            measureMs: cfg.measureMs,
            task: sp.task,
            serverPid: server.pid,
          });
        } finally {
          sp.close();
        }
        applied += sp.applied();
        cfg.log(`  ${Math.round(sync.perSecond)} ops/s (p50 ${sync.p50.toFixed(1)} ms)`);
      } finally {
        await server.stop();
      }
      const n = await admin(cfg.databaseUrl, async (c) => {
        const r = await c.query(
          `SELECT (SELECT count(*)::int FROM ${SCHEMA}.documents) AS d,
                  (SELECT count(*)::int FROM ${SCHEMA}.changes ch JOIN ${SCHEMA}.commits t ON t.tx = ch.tx) AS p`,
        );
        return r.rows[0] as { d: number; p: number };
      });
      if (n.d !== applied || n.p !== applied) {
        throw new CorrectnessError(`push-single: ${applied} acknowledged, ${n.d} documents, ${n.p} changes with a position`);
      }
      cfg.log(`push-single baseline ${writers} writers: raw single-row INSERT transactions through pg`);
      const raw = await rawSingle(cfg, writers);
      cfg.log(`  ${Math.round(raw.perSecond)} rows/s (p50 ${raw.p50.toFixed(1)} ms)`);
      if (!cfg.keep) await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA ${SCHEMA} CASCADE; DROP TABLE ${RAW_TABLE}`));
      const details = (t: TimedResult) => ({ writers, syncline: timedDetails(t), baseline: timedDetails(raw) });
      out.push(result(restName, rest.perSecond, 'ops/s', raw.perSecond, 'rows/s', TARGET, details(rest)));
      out.push(result(syncName, sync.perSecond, 'ops/s', raw.perSecond, 'rows/s', TARGET, details(sync)));
      cfg.log(`  ratios: REST ${round(rest.perSecond / raw.perSecond, 2)}×, /sync ${round(sync.perSecond / raw.perSecond, 2)}×`);
    } catch (err) {
      out.push(failed(restName, 'ops/s', 'rows/s', TARGET, err));
    }
  }
  return out;
}

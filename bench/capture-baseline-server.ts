/**
 * Baseline of the capture scenarios (bench/capture.ts): esink's way done raw,
 * a bare Socket.IO server that broadcasts every row another program writes.
 *
 *   CAPTURE_MODE=pg-listen  CAPTURE_DATABASE_URL=… CAPTURE_CHANNEL=…  node --import tsx bench/capture-baseline-server.ts
 *   CAPTURE_MODE=mysql-poll CAPTURE_MYSQL_DATABASE=… CAPTURE_MYSQL_TABLE=… CAPTURE_POLL_MS=250  (same command)
 *
 * `pg-listen`: a row-level trigger sends `pg_notify(channel, row JSON)`; this
 * server LISTENs and `io.emit`s each row. `mysql-poll`: a row-level trigger
 * appends the row's JSON to a table (`id` auto-increment, `payload`); this
 * server reads the rows after the last id it sent every CAPTURE_POLL_MS,
 * `io.emit`s each, then deletes them.
 *
 * Each row goes out as a frame shaped like Syncline's `/sync` frames,
 * `{subscriptionId: 'baseline', changes: [change], from, position}`, with the
 * row as `data` and `timestamp` = the wall clock just before the emit.
 * `GET /health` answers `{status: 'ok', position}` once listening (the
 * position of the last frame sent: a new client's starting point).
 */
import http from 'node:http';
import pg from 'pg';
import { Server } from 'socket.io';

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const port = Number(process.env.PORT ?? 0);
const wall = () => performance.timeOrigin + performance.now();
let position = 0;
let ready = false;

const httpServer = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health' && ready) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', position }));
    return;
  }
  res.writeHead(req.url === '/health' ? 503 : 404).end();
});
const io = new Server(httpServer, { transports: ['websocket'] });

function emitRow(collection: string, row: Record<string, unknown>): void {
  const from = position;
  position++;
  const change = {
    position,
    id: `raw-${position}`,
    type: 'insert',
    collection,
    docId: String(row.id),
    data: row,
    version: 1,
    vectorClock: {},
    timestamp: wall(),
    clientId: null,
    source: 'database',
  };
  io.emit('changes', { subscriptionId: 'baseline', changes: [change], from, position });
}

const stops: (() => Promise<void>)[] = [];

async function listenPg(): Promise<void> {
  const channel = env('CAPTURE_CHANNEL');
  const client = new pg.Client({ connectionString: env('CAPTURE_DATABASE_URL') });
  await client.connect();
  client.on('notification', (n) => {
    if (n.channel === channel && n.payload) emitRow(channel, JSON.parse(n.payload) as Record<string, unknown>);
  });
  client.on('error', (err) => {
    process.stderr.write(`LISTEN connection failed: ${err.message}\n`);
    process.exit(1);
  });
  await client.query(`LISTEN "${channel.replaceAll('"', '""')}"`);
  stops.push(() => client.end());
}

async function pollMysql(): Promise<void> {
  const mysql = await import('mysql2/promise');
  const table = `\`${env('CAPTURE_MYSQL_TABLE').replaceAll('`', '``')}\``;
  const intervalMs = Number(env('CAPTURE_POLL_MS'));
  const db = await mysql.createConnection({
    host: process.env.CAPTURE_MYSQL_HOST ?? '127.0.0.1',
    port: Number(process.env.CAPTURE_MYSQL_PORT ?? 3306),
    user: process.env.CAPTURE_MYSQL_USER ?? 'root',
    password: process.env.CAPTURE_MYSQL_PASSWORD ?? '',
    database: env('CAPTURE_MYSQL_DATABASE'),
  });
  let last = 0;
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      const [rows] = await db.query(`SELECT id, payload FROM ${table} WHERE id > ? ORDER BY id`, [last]);
      const list = rows as { id: number; payload: string | Record<string, unknown> }[];
      for (const r of list) {
        emitRow(table, typeof r.payload === 'string' ? (JSON.parse(r.payload) as Record<string, unknown>) : r.payload);
        last = r.id;
      }
      if (list.length > 0) await db.query(`DELETE FROM ${table} WHERE id <= ?`, [last]);
    } catch (err) {
      process.stderr.write(`poll failed: ${(err as Error).message}\n`);
      process.exit(1);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void poll(), intervalMs);
  stops.push(async () => {
    clearInterval(timer);
    await db.end();
  });
}

const mode = env('CAPTURE_MODE');
if (mode === 'pg-listen') await listenPg();
else if (mode === 'mysql-poll') await pollMysql();
else throw new Error(`CAPTURE_MODE must be pg-listen or mysql-poll, not ${mode}`);

httpServer.listen(port, '127.0.0.1', () => {
  ready = true;
});
process.on('SIGTERM', () => {
  setTimeout(() => process.exit(0), 2000).unref();
  void Promise.allSettled(stops.map((s) => s())).then(() => io.close(() => process.exit(0)));
});

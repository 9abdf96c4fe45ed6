/**
 * Child process of the fanout and memory scenarios (bench/fanout.ts): N
 * socket.io-client sockets (websocket only) in one process, driven by the
 * bench over IPC.
 *
 *   node --import tsx bench/fanout-clients.ts '{"url":…,"clients":N,"mode":"syncline"|"baseline","collection":"fan"}'
 *
 * mode `syncline` connects to `${url}/sync` and subscribes `{collection}` with an
 * ack; mode `baseline` connects to `${url}/` (the bare Socket.IO server) and
 * does not subscribe. Both receive `changes` frames
 * `{subscriptionId, changes, from, position}` and check them the way a client
 * of the `/sync` protocol must: a frame with `from` above the client's last
 * position is a gap, a change at or below it a duplicate (both counted as
 * errors here: nothing was lost or resent in this test). Per change the
 * latency is receive time minus `change.timestamp` (wall clock, ms; both
 * processes share the machine clock), in a 0.1 ms histogram.
 *
 * Messages (parent → child): `{type: 'phase', phase, from, to, until}` starts
 * a measured phase: changes whose document has `m === phase` (written in the
 * wall-clock window [from, to]) are counted, those received by `until` apart,
 * and their latencies go to a fresh histogram; `{type: 'status'}`; `{type: 'report'}`;
 * `{type: 'exit'}`. Child → parent: `ready`, `status`, `report`, `fatal`.
 *
 * Per-user clients (the routing scenario, bench/routing.ts), all optional: with
 * `users`, client i is user `${users.prefix}${i}`: it connects with
 * `auth: {token}` (an HS256 JWT with `sub` = that user, signed here with
 * `users.jwtSecret`, so 5,000 tokens need not travel on the command line),
 * subscribes with `filter: {[users.filterField]: user}` when `filterField` is
 * set, and every insert it receives must have `data[users.ownerField] === user`
 * (else an error). `{type: 'status', cyclicTotal: T}` also checks per-client
 * counts when T writes were spread over the clients in turn (write k → client
 * k mod N): `short`/`over` count the clients below/above their share.
 */
import { SignJWT } from 'jose';
import { io, type Socket } from 'socket.io-client';

export interface ClientsConfig {
  url: string;
  clients: number;
  mode: 'syncline' | 'baseline';
  collection: string;
  /** Mode `baseline`: the position of the server's last frame before these clients connected. */
  startPosition?: number;
  /** Handshakes in flight at once while connecting. */
  concurrency?: number;
  /** Mode `syncline`: client i is an authenticated user of its own (see the header). */
  users?: { prefix: string; jwtSecret: string; ownerField: string; filterField?: string };
}

export type ToClients =
  | { type: 'phase'; phase: number; from: number; to: number; until: number }
  | { type: 'status'; cyclicTotal?: number }
  | { type: 'report' }
  | { type: 'exit' };

export interface ClientsStatus {
  type: 'status';
  connected: number;
  /** Fewest / most changes any client has received in total. */
  minCount: number;
  maxCount: number;
  totalCount: number;
  errors: number;
  firstError: string | null;
  /** With `cyclicTotal`: clients with fewer / more changes than their share of it. */
  short?: number;
  over?: number;
}

export interface ClientsReport {
  type: 'report';
  phase: number;
  /** Changes (all clients together, any phase) received inside the window [from, to]. */
  windowDeliveries: number;
  /** Deliveries of changes written in the phase's measured window (`m === phase`), and their latency. */
  measuredDeliveries: number;
  /** Of those, the ones received by `until` (the end of the window plus a grace period). */
  onTimeDeliveries: number;
  p50: number;
  p99: number;
  max: number;
  /** Latencies below 0 (clock granularity), counted as 0. */
  negative: number;
  /** End to end: receive time minus the document's `t` (the writer's send time, Date.now()). */
  e2eP50: number;
  e2eP99: number;
  /** Frames (all clients) received in the window, and their average number of changes. */
  windowFrames: number;
  changesPerFrame: number;
}

export type FromClients =
  | { type: 'ready'; connected: number; seconds: number; position: number }
  | ClientsStatus
  | ClientsReport
  | { type: 'fatal'; message: string };

interface WireChange {
  position: number;
  timestamp: number;
  data: { m?: number; t?: number; [field: string]: unknown } | null;
}
interface Frame {
  subscriptionId: string;
  changes: WireChange[];
  from: number;
  position: number;
}

const arg = process.argv[2];
if (!arg) throw new Error('usage: fanout-clients.ts CONFIG_JSON');
const cfg = JSON.parse(arg) as ClientsConfig;
const n = cfg.clients;
const send = (m: FromClients) => process.send?.(m);
const wall = () => performance.timeOrigin + performance.now();
const users = cfg.mode === 'syncline' ? cfg.users : undefined;
const userOf = (i: number) => `${users?.prefix ?? ''}${i}`;

// ---------------------------------------------------------------- per-client state

const last = new Float64Array(n).fill(cfg.mode === 'baseline' ? (cfg.startPosition ?? 0) : 0);
const count = new Float64Array(n);
const subscription: string[] = new Array(n).fill('');
let errors = 0;
let firstError: string | null = null;
const error = (msg: string) => {
  errors++;
  firstError ??= msg;
};

// ---------------------------------------------------------------- phase accounting

const BIN_MS = 0.1;
const BINS = 600_000; // 60 s
const hist = new Uint32Array(BINS + 1);
const e2eHist = new Uint32Array(BINS + 1);
let phase = -1;
let winFrom = Infinity;
let winTo = -Infinity;
let until = -Infinity;
let windowDeliveries = 0;
let onTime = 0;
let windowFrames = 0;
let measured = 0;
let negative = 0;

function onFrame(i: number, frame: Frame): void {
  const t = wall();
  const changes = frame.changes;
  if (cfg.mode === 'syncline' && frame.subscriptionId !== subscription[i]) {
    error(`client ${i}: frame for subscription ${frame.subscriptionId}, subscribed ${subscription[i]}`);
    return;
  }
  let prev = last[i] as number;
  if (frame.from > prev) error(`client ${i}: gap, frame from ${frame.from} after last position ${prev}`);
  for (let k = 0; k < changes.length; k++) {
    const c = changes[k] as WireChange;
    if (c.position <= prev) error(`client ${i}: change at ${c.position} again (last ${prev})`);
    else if (c.position > frame.position) error(`client ${i}: change at ${c.position} beyond frame position ${frame.position}`);
    prev = c.position;
    if (users && c.data !== null && c.data[users.ownerField] !== userOf(i)) {
      error(`client ${i}: received a change of ${JSON.stringify(c.data[users.ownerField])}, it is ${userOf(i)}`);
    }
    if (c.data !== null && c.data.m === phase) {
      let lat = t - c.timestamp;
      if (lat < 0) {
        negative++;
        lat = 0;
      }
      hist[Math.min(BINS, Math.floor(lat / BIN_MS))]!++;
      e2eHist[Math.min(BINS, Math.max(0, Math.floor((t - (c.data.t ?? t)) / BIN_MS)))]!++;
      measured++;
      if (t <= until) onTime++;
    }
  }
  count[i] = (count[i] as number) + changes.length;
  last[i] = frame.position;
  if (t >= winFrom && t <= winTo) {
    windowDeliveries += changes.length;
    windowFrames++;
  }
}

function percentile(p: number, total: number, h = hist): number {
  if (total === 0) return 0;
  const rank = Math.ceil(p * total);
  let seen = 0;
  for (let b = 0; b <= BINS; b++) {
    seen += h[b] as number;
    if (seen >= rank) return (b + 0.5) * BIN_MS;
  }
  return BINS * BIN_MS;
}

function report(): ClientsReport {
  let max = 0;
  for (let b = BINS; b >= 0; b--) {
    if ((hist[b] as number) > 0) {
      max = (b + 1) * BIN_MS;
      break;
    }
  }
  return {
    type: 'report',
    phase,
    windowDeliveries,
    measuredDeliveries: measured,
    onTimeDeliveries: onTime,
    p50: percentile(0.5, measured),
    p99: percentile(0.99, measured),
    max,
    negative,
    e2eP50: percentile(0.5, measured, e2eHist),
    e2eP99: percentile(0.99, measured, e2eHist),
    windowFrames,
    changesPerFrame: windowFrames > 0 ? windowDeliveries / windowFrames : 0,
  };
}

function status(cyclicTotal?: number): ClientsStatus {
  let min = Infinity;
  let max = 0;
  let total = 0;
  let short = 0;
  let over = 0;
  for (let i = 0; i < n; i++) {
    const c = count[i] as number;
    if (c < min) min = c;
    if (c > max) max = c;
    total += c;
    if (cyclicTotal !== undefined) {
      const share = Math.floor(cyclicTotal / n) + (i < cyclicTotal % n ? 1 : 0);
      if (c < share) short++;
      else if (c > share) over++;
    }
  }
  const s: ClientsStatus = { type: 'status', connected, minCount: n > 0 ? min : 0, maxCount: max, totalCount: total, errors, firstError };
  return cyclicTotal === undefined ? s : { ...s, short, over };
}

// ---------------------------------------------------------------- connecting

const sockets: Socket[] = [];
let connected = 0;

const jwtKey = users ? new TextEncoder().encode(users.jwtSecret) : undefined;

async function connectOne(i: number): Promise<void> {
  const target = cfg.mode === 'syncline' ? `${cfg.url}/sync` : `${cfg.url}/`;
  const token = jwtKey ? await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userOf(i)).sign(jwtKey) : undefined;
  // forceNew: one engine.io connection per socket (by default io() multiplexes every socket of a URL over one).
  const socket = io(target, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    timeout: 60_000,
    ...(token ? { auth: { token } } : {}),
  });
  sockets[i] = socket;
  socket.on('changes', (frame: Frame) => onFrame(i, frame));
  socket.on('subscriptionError', (e: unknown) => error(`client ${i}: subscriptionError ${JSON.stringify(e)}`));
  socket.on('error', (e: unknown) => error(`client ${i}: error event ${JSON.stringify(e)}`));
  return new Promise((resolve, reject) => {
    socket.once('connect_error', (err) => reject(new Error(`client ${i}: connect_error ${err.message}`)));
    socket.once('connect', () => {
      connected++;
      socket.on('disconnect', (reason) => {
        connected--;
        if (!exiting) error(`client ${i}: disconnected (${reason})`);
      });
      if (cfg.mode !== 'syncline') {
        resolve();
        return;
      }
      socket
        .timeout(60_000)
        .emitWithAck(
          'subscribe',
          users?.filterField ? { collection: cfg.collection, filter: { [users.filterField]: userOf(i) } } : { collection: cfg.collection },
        )
        .then((ack: { ok: boolean; subscriptionId?: string; position?: number; error?: unknown }) => {
          if (!ack.ok || typeof ack.subscriptionId !== 'string' || typeof ack.position !== 'number') {
            reject(new Error(`client ${i}: subscribe answered ${JSON.stringify(ack)}`));
            return;
          }
          subscription[i] = ack.subscriptionId;
          last[i] = ack.position;
          resolve();
        }, reject);
    });
  });
}

let exiting = false;

async function connectAll(): Promise<void> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) await connectOne(next++);
  };
  await Promise.all(Array.from({ length: Math.min(n, cfg.concurrency ?? 50) }, worker));
  // Every client starts from the same position (nothing is written while connecting).
  let position = 0;
  for (let i = 0; i < n; i++) position = Math.max(position, last[i] as number);
  send({ type: 'ready', connected, seconds: (performance.now() - t0) / 1000, position });
}

process.on('message', (m: ToClients) => {
  switch (m.type) {
    case 'phase':
      phase = m.phase;
      winFrom = m.from;
      winTo = m.to;
      until = m.until;
      windowDeliveries = 0;
      onTime = 0;
      windowFrames = 0;
      measured = 0;
      negative = 0;
      hist.fill(0);
      e2eHist.fill(0);
      break;
    case 'status':
      send(status(m.cyclicTotal));
      break;
    case 'report':
      send(report());
      break;
    case 'exit':
      exiting = true;
      for (const s of sockets) s?.disconnect();
      // Let the close frames go out, then leave.
      setTimeout(() => process.exit(0), 200);
      break;
  }
});
process.on('disconnect', () => process.exit(0));

connectAll().catch((err: unknown) => {
  send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  setTimeout(() => process.exit(1), 100);
});

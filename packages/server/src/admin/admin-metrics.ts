/**
 * One server's metrics: what the admin API (`/admin/api/*`) and `/metrics` report.
 *
 * Hot paths only add to plain numbers (`delivered`, per operation result):
 * nothing is serialized, nothing allocated per socket. Everything that costs
 * more (lag over every socket, label sets for Prometheus) is computed when
 * someone asks: a scrape, an API call, or the 1-second sampler.
 *
 * Bounds: 600 samples, 500 recent operations, 200 recently disconnected
 * clients; live sockets are read from Socket.IO's own namespace maps. Labels
 * are via / status / error code / namespace / reason only (never a client or
 * document id), so Prometheus series stay few.
 */
import { randomUUID } from 'node:crypto';
import type { AdminBus, AdminClient, AdminOperation, AdminOperationStatus, AdminSample, PushResponse } from '@syncline/protocol';
import type { Server, Socket } from 'socket.io';
import { Ring } from './ring.js';

export type Via = AdminOperation['via'];
export const NAMESPACES = ['/', '/sync', '/sendActions'] as const;
export type Namespace = (typeof NAMESPACES)[number];

export const SAMPLE_INTERVAL_MS = 1000;
export const MAX_SAMPLES = 600;
export const MAX_OPERATIONS = 500;
/** Clients listed by `/admin/api/clients` at most, and disconnected ones remembered. */
export const MAX_CLIENTS = 200;

/** What the metrics read from the rest of the server (set once it exists). */
export interface MetricSources {
  /** The change-log position this instance's feed has read. */
  position(): number;
  bus(): AdminBus;
  openActions(): number;
  maxOpenActions: number;
  /** /sync: the position a socket's subscriptions are complete up to (null: none). */
  syncPosition(socketId: string): number | null;
}

/** Kept on `socket.data.admin`: what the client reported, and who it is. */
interface SocketInfo {
  clientId: string | null;
  pending: number | null;
  reported: number | null;
}

interface OpCount {
  via: Via;
  status: AdminOperationStatus;
  code: string;
  n: number;
}

const userOf = (socket: Socket): string | null => (socket.data.identity?.userId as string | null | undefined) ?? null;

export class AdminMetrics {
  readonly instanceId: string;
  readonly startedAt = Date.now();
  sources: MetricSources = {
    position: () => 0,
    bus: () => ({ kind: 'none', name: '', state: 'closed', shared: false, published: 0, received: 0, dropped: 0 }),
    openActions: () => 0,
    maxOpenActions: 0,
    syncPosition: () => null,
  };
  /** `via|status|code` → count; at most 3 × 6 × the registry's codes. */
  readonly opCounts = new Map<string, OpCount>();
  operationsTotal = 0;
  readonly byStatus: Record<AdminOperationStatus, number> = {
    applied: 0,
    conflict: 0,
    rejected: 0,
    duplicate: 0,
    committed: 0,
    rolledBack: 0,
  };
  deliveriesDefault = 0;
  deliveriesSync = 0;
  readonly connections: Record<Namespace, number> = { '/': 0, '/sync': 0, '/sendActions': 0 };
  actionsCommitted = 0;
  /** Rollback reason → count (reasons are the session's fixed set). */
  readonly rolledBack = new Map<string, number>();
  readonly samples = new Ring<AdminSample>(MAX_SAMPLES);
  readonly operations = new Ring<AdminOperation>(MAX_OPERATIONS);
  /** Disconnected clients, oldest first (a Map keeps insertion order). */
  private readonly recent = new Map<string, AdminClient>();
  private io: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last = { t: Date.now(), operations: 0, deliveries: 0 };

  constructor(options: { instanceId?: string; adapter: string }) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.adapter = options.adapter;
  }

  readonly adapter: string;

  get deliveriesTotal(): number {
    return this.deliveriesDefault + this.deliveriesSync;
  }

  /** Hot path: `n` changes written to sockets (a change to 3 sockets is 3). */
  delivered(namespace: '/' | '/sync', n: number): void {
    if (namespace === '/sync') this.deliveriesSync += n;
    else this.deliveriesDefault += n;
  }

  /** The results of one `applyOperations` call (REST or /sync push), in request order. */
  recordResults(via: Via, clientId: string, operations: unknown[], res: PushResponse): void {
    const time = Date.now();
    res.results.forEach((r, i) => {
      const op = (operations[i] ?? null) as { type?: unknown; collection?: unknown; docId?: unknown } | null;
      const rec: AdminOperation = {
        time,
        via,
        clientId,
        id: r.id ?? null,
        type: typeof op?.type === 'string' ? op.type.slice(0, 16) : 'unknown',
        collection: r.collection ?? (typeof op?.collection === 'string' ? op.collection.slice(0, 64) : null),
        docId: r.docId ?? (typeof op?.docId === 'string' ? op.docId.slice(0, 256) : null),
        status: r.status,
      };
      if (r.error) {
        rec.code = r.error.code;
        rec.message = r.error.message;
      }
      if (r.position !== undefined) rec.position = r.position;
      this.record(rec);
    });
  }

  /** A whole call failed (the database unreachable, ...): each of its operations is counted as rejected with the code. */
  recordFailure(via: Via, clientId: string, operations: unknown[], code: string, message: string): void {
    const time = Date.now();
    for (const o of operations) {
      const op = (o ?? null) as { id?: unknown; type?: unknown; collection?: unknown; docId?: unknown } | null;
      const str = (v: unknown, max: number) => (typeof v === 'string' ? v.slice(0, max) : null);
      this.record({
        time,
        via,
        clientId,
        id: str(op?.id, 128),
        type: str(op?.type, 16) ?? 'unknown',
        collection: str(op?.collection, 64),
        docId: str(op?.docId, 256),
        status: 'rejected',
        code,
        message,
      });
    }
  }

  /** One operation's final result (also a /sendActions action: committed, rolledBack, or its NACK). */
  record(rec: AdminOperation): void {
    this.operations.push(rec);
    this.operationsTotal++;
    this.byStatus[rec.status]++;
    const code = rec.code ?? '';
    const key = `${rec.via}|${rec.status}|${code}`;
    const c = this.opCounts.get(key);
    if (c) c.n++;
    else this.opCounts.set(key, { via: rec.via, status: rec.status, code, n: 1 });
  }

  actionCommitted(): void {
    this.actionsCommitted++;
  }

  actionRolledBack(reason: string): void {
    this.rolledBack.set(reason, (this.rolledBack.get(reason) ?? 0) + 1);
  }

  get actionsRolledBack(): number {
    let n = 0;
    for (const v of this.rolledBack.values()) n += v;
    return n;
  }

  /** `clientStatus` from a /sync client (validated by the namespace). */
  clientStatus(socket: Socket, status: { clientId: string; pending: number; position: number }): void {
    const info = infoOf(socket);
    info.clientId = status.clientId;
    info.pending = status.pending;
    info.reported = status.position;
  }

  /** Counts connections and remembers clients that disconnect. */
  attach(io: Server): void {
    this.io = io;
    for (const name of NAMESPACES) {
      io.of(name).on('connection', (socket: Socket) => {
        this.connections[name]++;
        const info = infoOf(socket);
        if (info.clientId === null) {
          const given = socket.handshake.auth?.clientId ?? socket.handshake.query?.clientId;
          if (typeof given === 'string' && given.length > 0 && given.length <= 128) info.clientId = given;
        }
        // `disconnecting` comes before the namespaces' own `disconnect` handlers drop the socket's subscriptions,
        // so the row keeps the position it had reached.
        socket.once('disconnecting', () => this.remember({ ...this.row(name, socket), connected: false, lastSeen: Date.now() }));
      });
    }
  }

  private remember(row: AdminClient): void {
    const key = `${row.namespace} ${row.clientId}`;
    this.recent.delete(key);
    this.recent.set(key, row);
    if (this.recent.size > MAX_CLIENTS) this.recent.delete(this.recent.keys().next().value as string);
  }

  private row(namespace: Namespace, socket: Socket): AdminClient {
    const info = infoOf(socket);
    let position: number | null = null;
    if (namespace === '/sync') {
      const p = this.sources.syncPosition(socket.id);
      position = p === null ? info.reported : Math.max(p, info.reported ?? 0);
    }
    return {
      clientId: info.clientId ?? `socket:${socket.id}`,
      namespace,
      userId: userOf(socket),
      connected: true,
      address: socket.handshake.address ?? null,
      position,
      lag: position === null ? null : Math.max(0, this.sources.position() - position),
      pending: info.pending,
      lastSeen: Date.now(),
    };
  }

  /** Live sockets (every namespace), then recently disconnected ones, then `rest` (the storage's clients), at most MAX_CLIENTS. */
  clients(rest: { clientId: string; position: number; lastSeen: number }[] = []): AdminClient[] {
    const out: AdminClient[] = [];
    const seen = new Set<string>();
    const add = (row: AdminClient) => {
      const key = `${row.namespace} ${row.clientId}`;
      if (out.length >= MAX_CLIENTS || seen.has(key)) return;
      seen.add(key);
      out.push(row);
    };
    for (const name of NAMESPACES) {
      for (const socket of this.io?.of(name).sockets.values() ?? []) {
        if (out.length >= MAX_CLIENTS) break;
        add(this.row(name, socket));
      }
    }
    const head = this.sources.position();
    // A disconnected client falls further behind with every change since it left.
    for (const row of [...this.recent.values()].reverse()) {
      add({ ...row, lag: row.position === null ? null : Math.max(0, head - row.position) });
    }
    for (const c of rest) {
      add({
        clientId: c.clientId,
        namespace: 'rest',
        userId: null,
        connected: false,
        address: null,
        position: c.position,
        lag: Math.max(0, head - c.position),
        pending: null,
        lastSeen: c.lastSeen,
      });
    }
    return out;
  }

  connected(): Record<Namespace, number> {
    const io = this.io;
    return {
      '/': io?.of('/').sockets.size ?? 0,
      '/sync': io?.of('/sync').sockets.size ?? 0,
      '/sendActions': io?.of('/sendActions').sockets.size ?? 0,
    };
  }

  /** The largest lag of a connected /sync client, and how many are behind (REST clients are not live: not counted). */
  lag(): { max: number; clients: number } {
    let max = 0;
    let behind = 0;
    const head = this.sources.position();
    for (const socket of this.io?.of('/sync').sockets.values() ?? []) {
      const info = socket.data.admin as SocketInfo | undefined;
      const p = this.sources.syncPosition(socket.id);
      const position = p === null ? (info?.reported ?? null) : Math.max(p, info?.reported ?? 0);
      if (position === null) continue;
      const lag = head - position;
      if (lag > 0) {
        behind++;
        if (lag > max) max = lag;
      }
    }
    return { max, clients: behind };
  }

  sample(now = Date.now()): AdminSample {
    const elapsed = Math.max(1, now - this.last.t) / 1000;
    const deliveries = this.deliveriesTotal;
    const c = this.connected();
    const s: AdminSample = {
      t: now,
      operationsPerSec: round((this.operationsTotal - this.last.operations) / elapsed),
      deliveriesPerSec: round((deliveries - this.last.deliveries) / elapsed),
      connected: c['/'] + c['/sync'] + c['/sendActions'],
      position: this.sources.position(),
      maxLag: this.lag().max,
      openActions: this.sources.openActions(),
      busUp: this.sources.bus().state === 'up',
    };
    this.last = { t: now, operations: this.operationsTotal, deliveries };
    this.samples.push(s);
    return s;
  }

  start(): void {
    if (this.timer) return;
    this.last = { t: Date.now(), operations: this.operationsTotal, deliveries: this.deliveriesTotal };
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

function infoOf(socket: Socket): SocketInfo {
  let info = socket.data.admin as SocketInfo | undefined;
  if (!info) {
    info = { clientId: null, pending: null, reported: null };
    socket.data.admin = info;
  }
  return info;
}

const round = (n: number) => Math.round(n * 100) / 100;

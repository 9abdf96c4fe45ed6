/**
 * `GET /metrics`: one prom-client Registry per server (several servers run in
 * one process, e.g. in tests, and must not share counters), filled from
 * AdminMetrics when scraped. Process metrics (CPU, memory, event loop, GC)
 * come from a single process-wide registry: collectDefaultMetrics starts an
 * event-loop monitor and a GC observer that cannot be stopped, so they are
 * started once per process, not once per server.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { type AdminMetrics, NAMESPACES } from './admin-metrics.js';

const BUS_STATES = ['connecting', 'up', 'down', 'closed'] as const;

let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export interface PrometheusMetrics {
  contentType: string;
  /** The exposition text: this server's `syncline_*` metrics, then the process's. */
  text(): Promise<string>;
}

export function prometheusMetrics(m: AdminMetrics): PrometheusMetrics {
  const registers = [new Registry()];
  const [register] = registers as [Registry];
  new Counter({
    name: 'syncline_operations_total',
    help: 'Operation results by path (rest, sync, sendActions), status, and error code (empty when none).',
    labelNames: ['via', 'status', 'code'],
    registers,
    collect() {
      this.reset();
      for (const c of m.opCounts.values()) this.inc({ via: c.via, status: c.status, code: c.code }, c.n);
    },
  });
  new Counter({
    name: 'syncline_deliveries_total',
    help: 'Changes written to sockets, per namespace (one change sent to 3 sockets counts 3).',
    labelNames: ['namespace'],
    registers,
    collect() {
      this.reset();
      this.inc({ namespace: '/' }, m.deliveriesDefault);
      this.inc({ namespace: '/sync' }, m.deliveriesSync);
    },
  });
  new Counter({
    name: 'syncline_socket_connections_total',
    help: 'Socket.IO connections accepted, per namespace.',
    labelNames: ['namespace'],
    registers,
    collect() {
      this.reset();
      for (const ns of NAMESPACES) this.inc({ namespace: ns }, m.connections[ns]);
    },
  });
  new Gauge({
    name: 'syncline_connected_sockets',
    help: 'Sockets connected now, per namespace.',
    labelNames: ['namespace'],
    registers,
    collect() {
      const c = m.connected();
      for (const ns of NAMESPACES) this.set({ namespace: ns }, c[ns]);
    },
  });
  new Gauge({
    name: 'syncline_change_log_position',
    help: 'The change-log position this instance has read up to.',
    registers,
    collect() {
      this.set(m.sources.position());
    },
  });
  new Gauge({
    name: 'syncline_open_actions',
    help: '/sendActions write actions in progress (awaiting their FIN).',
    registers,
    collect() {
      this.set(m.sources.openActions());
    },
  });
  new Gauge({
    name: 'syncline_max_open_actions',
    help: 'The server-wide limit of open /sendActions write actions (SYNCLINE_MAX_OPEN_ACTIONS).',
    registers,
    collect() {
      this.set(m.sources.maxOpenActions);
    },
  });
  new Counter({
    name: 'syncline_actions_committed_total',
    help: '/sendActions write actions committed at their FIN.',
    registers,
    collect() {
      this.reset();
      this.inc(m.actionsCommitted);
    },
  });
  new Counter({
    name: 'syncline_actions_rolled_back_total',
    help: '/sendActions write actions rolled back, by reason (nack, timeout, disconnect, shutdown, conflict, error).',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of m.rolledBack) this.inc({ reason }, n);
    },
  });
  new Gauge({
    name: 'syncline_bus_up',
    help: 'Whether the event bus to other instances is up (1) or not (0).',
    registers,
    collect() {
      this.set(m.sources.bus().state === 'up' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'syncline_bus_state',
    help: 'The event bus state: 1 for the current one.',
    labelNames: ['kind', 'state'],
    registers,
    collect() {
      this.reset();
      const b = m.sources.bus();
      for (const s of BUS_STATES) this.set({ kind: b.kind, state: s }, b.state === s ? 1 : 0);
    },
  });
  for (const [field, help] of [
    ['published', 'Messages this instance sent over the bus.'],
    ['received', 'Messages this instance received from other instances.'],
    ['dropped', 'Messages not sent (bus down, too large, or timed out).'],
  ] as const) {
    new Counter({
      name: `syncline_bus_${field}_total`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(m.sources.bus()[field]);
      },
    });
  }
  new Gauge({
    name: 'syncline_client_lag_max',
    help: 'The largest lag (head position minus the client position) of a connected /sync client.',
    registers,
    collect() {
      this.set(m.lag().max);
    },
  });
  new Gauge({
    name: 'syncline_clients_lagging',
    help: 'Connected /sync clients behind the head position.',
    registers,
    collect() {
      this.set(m.lag().clients);
    },
  });
  return {
    contentType: register.contentType,
    async text() {
      return `${await register.metrics()}\n${await processMetrics().metrics()}`;
    },
  };
}

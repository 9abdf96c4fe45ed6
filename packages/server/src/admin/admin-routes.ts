/**
 * The admin API (`/admin/api/*`, JSON) and `GET /metrics` (Prometheus text).
 * Both sit behind the admin check of transport/http-auth.ts (ADMIN_TOKEN or an
 * admin claim once authentication is configured). Fields: README, "Admin API
 * and metrics".
 */
import type { AdminCollections, AdminOverview, AdminSeries, StatsResponse } from '@syncline/protocol';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Storage } from '../storage/storage.js';
import { parseWith } from '../transport/errors.js';
import { type AdminMetrics, MAX_CLIENTS, MAX_OPERATIONS, SAMPLE_INTERVAL_MS } from './admin-metrics.js';
import type { PrometheusMetrics } from './prometheus.js';

/** The overview's horizon comes from /stats, which counts documents: at most once per this many ms. */
const STATS_TTL_MS = 5000;

const OperationsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_OPERATIONS).default(100),
});

export function registerAdminRoutes(app: FastifyInstance, storage: Storage, metrics: AdminMetrics, prom: PrometheusMetrics): void {
  let cached: { at: number; stats: Promise<StatsResponse> } | undefined;
  const stats = (): Promise<StatsResponse> => {
    if (!cached || Date.now() - cached.at > STATS_TTL_MS) {
      const p = storage.getStats();
      cached = { at: Date.now(), stats: p };
      // A failed read is not kept: the next call tries again.
      p.catch(() => {
        if (cached?.stats === p) cached = undefined;
      });
    }
    return cached.stats;
  };

  app.get('/admin/api/overview', async (): Promise<AdminOverview> => {
    const [position, s] = await Promise.all([storage.currentPosition(), stats()]);
    const connected = metrics.connected();
    const last = metrics.samples.last();
    const b = metrics.sources.bus();
    return {
      time: Date.now(),
      instance: { id: metrics.instanceId, adapter: metrics.adapter, startedAt: metrics.startedAt },
      position: Math.max(position, metrics.sources.position()),
      horizon: s.horizon,
      totals: {
        operations: metrics.operationsTotal,
        byStatus: { ...metrics.byStatus },
        deliveries: metrics.deliveriesTotal,
        actionsCommitted: metrics.actionsCommitted,
        actionsRolledBack: metrics.actionsRolledBack,
      },
      rates: { operationsPerSec: last?.operationsPerSec ?? 0, deliveriesPerSec: last?.deliveriesPerSec ?? 0 },
      clients: { connected: connected['/'] + connected['/sync'] + connected['/sendActions'], byNamespace: connected },
      openActions: metrics.sources.openActions(),
      maxOpenActions: metrics.sources.maxOpenActions,
      lag: metrics.lag(),
      bus: {
        kind: b.kind,
        name: b.name,
        state: b.state,
        shared: b.shared,
        published: b.published,
        received: b.received,
        dropped: b.dropped,
      },
    };
  });

  app.get('/admin/api/series', async (): Promise<AdminSeries> => ({ intervalMs: SAMPLE_INTERVAL_MS, samples: metrics.samples.oldest() }));

  app.get('/admin/api/clients', async () => {
    const rest = (await storage.listClients?.(MAX_CLIENTS)) ?? [];
    return { clients: metrics.clients(rest) };
  });

  app.get('/admin/api/operations', async (req) => {
    const { limit } = parseWith(OperationsQuerySchema, req.query ?? {}, 'query');
    return { operations: metrics.operations.newest(limit) };
  });

  app.get('/admin/api/collections', async (): Promise<AdminCollections> => {
    const s = await storage.getStats();
    cached = { at: Date.now(), stats: Promise.resolve(s) };
    const collections = Object.entries(s.collections)
      .map(([name, c]) => ({ name, documents: c.documents, deleted: c.deleted, table: storage.tableCollections.has(name) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { collections, position: s.position, horizon: s.horizon, totalOperations: s.totalOperations };
  });

  app.get('/metrics', async (_req, reply) => reply.type(prom.contentType).send(await prom.text()));
}

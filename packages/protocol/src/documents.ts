import { z } from 'zod';
import type { WireDocument } from './operations.js';
import { storableText } from './text.js';

export const SortSchema = z.record(z.string(), z.union([z.literal(1), z.literal(-1), z.literal('asc'), z.literal('desc')]));

export const QueryRequestSchema = z.object({
  filter: z.unknown().optional(),
  sort: SortSchema.optional(),
  limit: z.number().int().min(1).optional(),
  cursor: storableText(z.string().max(4096)).optional(),
});
export type QueryRequest = z.infer<typeof QueryRequestSchema>;

export interface QueryResponse {
  documents: WireDocument[];
  /** Number of documents in this page. */
  count: number;
  /** Pass as `cursor` to get the next page; absent on the last page. */
  nextCursor?: string;
  /** Change-log position this page is consistent with: pull from here after loading. */
  position: number;
}

export const CompactRequestSchema = z.object({
  olderThanDays: z.number().min(0).max(36500),
});

export interface CompactResponse {
  message: 'Compaction completed';
  /** Operations removed from the operation log. */
  deletedCount: number;
  deletedChanges: number;
  purgedTombstones: number;
  /** Pulls with `since` below this now get RESYNC_REQUIRED. */
  horizon: number;
}

export interface StatsResponse {
  totalOperations: number;
  totalDocuments: number;
  /** Changes committed after the lowest checkpoint of clients seen in the last 30 days. */
  unsyncedOperations: number;
  collections: Record<string, { documents: number; deleted: number }>;
  position: number;
  horizon: number;
  clients: number;
}

export interface HealthResponse {
  /** `degraded`: serving, but the event bus to the other instances is down. */
  status: 'ok' | 'degraded' | 'error';
  adapter: string;
  position?: number;
  code?: string;
  /**
   * The event bus and counters: messages published, received and dropped; change batches this
   * instance read from the log (`readBatches`) or took from the bus (`busBatches`), and bus
   * batches that arrived past its position (`busGaps`, each read from the log).
   */
  bus?: { kind: string; name: string; state: 'connecting' | 'up' | 'down' | 'closed' } & Record<string, unknown>;
}

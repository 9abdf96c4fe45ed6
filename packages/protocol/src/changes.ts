/**
 * Read path: `POST /changes`. Changes come in commit order; `checkpoint` is the
 * position to send as `since` next time. A reply never skips a change: a change
 * committed later always gets a higher position than every change already served.
 */
import { z } from 'zod';
import { ClientIdSchema, VectorClockSchema } from './operations.js';
import { PositionSchema } from './position.js';
import type { VectorClock } from './vector-clock.js';

export const ChangesRequestSchema = z.object({
  /**
   * A position (what `checkpoint` said). One beyond the current head cannot be a position: SyncFlow
   * clients send the newest `timestamp` they saw, so it is read as a commit time (ms since epoch).
   */
  since: PositionSchema.default(0),
  /** Changes committed at or after this time (ms since epoch), explicitly; takes precedence over `since`. */
  sinceTimestamp: z.number().int().min(0).max(8.64e15).optional(),
  limit: z.number().int().min(1).optional(),
  clientId: ClientIdSchema.optional(),
  /** Accepted for SyncFlow compatibility; positions, not clocks, decide what is new. */
  vectorClock: VectorClockSchema.optional(),
});
export type ChangesRequest = z.infer<typeof ChangesRequestSchema>;

export type ChangeType = 'insert' | 'update' | 'delete';
export type ChangeSource = 'api' | 'database';

export interface Change {
  position: number;
  /** The operation id for API writes; `chg-<position>` for writes made directly in SQL. */
  id: string;
  type: ChangeType;
  collection: string;
  docId: string;
  /** Document fields after the change; `null` for a delete (tombstone). */
  data: Record<string, unknown> | null;
  /**
   * Server-side only, never sent to clients: for an update of a table row, the
   * old values of the columns it changed; for a delete of a table row, the
   * deleted row. Routing reads it ("old or new row").
   */
  old?: Record<string, unknown>;
  version: number;
  vectorClock: VectorClock;
  /** Commit time, ms since epoch. */
  timestamp: number;
  clientId: string | null;
  source: ChangeSource;
  synced: true;
}

export interface ChangesResponse {
  /** Named as in the SyncFlow reference. */
  operations: Change[];
  conflicts: [];
  checkpoint: number;
  hasMore: boolean;
}

/**
 * `/sync` client → server event `clientStatus` (no acknowledgement): what a
 * client reports about itself for the admin API. Sent on connect and when its
 * count of pending writes changes, at most once a second. A server that does
 * not know the event ignores it (the client never waits for an answer).
 */
import { z } from 'zod';
import { ClientIdSchema } from './operations.js';
import { PositionSchema } from './position.js';

export const ClientStatusSchema = z.object({
  clientId: ClientIdSchema,
  /** Local writes not yet acknowledged by the server. */
  pending: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** The highest change position the client has applied. */
  position: PositionSchema,
});
export type ClientStatusReport = z.infer<typeof ClientStatusSchema>;

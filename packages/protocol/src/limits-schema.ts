// Apart from limits.ts so that the client, which reads limits with `parseServerLimits`, does not bundle zod.
import { z } from 'zod';
import type { ServerLimits } from './limits.js';

const limit = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/** `ServerLimits` as a zod schema (the same rules as `parseServerLimits`). */
export const ServerLimitsSchema: z.ZodType<ServerLimits> = z.object({
  bodyLimit: limit,
  socketMaxMessageBytes: limit,
  maxOperations: limit,
});

/**
 * Positions order the change log. Each committed change has a position; positions
 * are drawn at commit time in commit order, so "changes after P" never skips a
 * change that commits later (DESIGN invariant 1). Numbers may skip (a transaction
 * that aborts after drawing its block), so clients detect gaps from the
 * `checkpoint`/`position` a server reports, not from arithmetic. 0 = before all.
 */
import { z } from 'zod';

export const PositionSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export type Position = z.infer<typeof PositionSchema>;

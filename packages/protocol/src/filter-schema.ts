/**
 * The filter check of `parseFilter` as a zod schema, for the server's request
 * schemas. Kept apart from filter.ts so that the client, which needs only the
 * zod-free filter code, does not bundle zod (the protocol is `sideEffects: false`).
 */
import { z } from 'zod';
import { checkFilter, type Filter } from './filter.js';

/** The same validation as `parseFilter`, for use inside request schemas; issues carry `params.reason`. */
export const FilterSchema: z.ZodType<Filter> = z.custom<Filter>().superRefine((value, ctx) => {
  const issue = checkFilter(value);
  if (issue) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.parts, params: { reason: issue.reason } });
});

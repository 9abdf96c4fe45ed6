import { type ErrorBody, issueCode, SynclineError } from '@syncline/protocol';
import type { z } from 'zod';

/** Parses a request part with a zod schema; failures name the first bad path. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [where, ...(issue?.path ?? [])].join('.');
  throw new SynclineError(issueCode(issue) ?? 'VALIDATION_FAILED', `${path}: ${issue?.message ?? 'invalid'}`, { path });
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', '57P01', '57P03']);

/** Maps anything thrown while handling a request to a registry error. */
export function toSynclineError(err: unknown): SynclineError {
  if (err instanceof SynclineError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  const code = e?.code ?? '';
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new SynclineError('PAYLOAD_TOO_LARGE');
  if (code === 'FST_ERR_BAD_URL') {
    // A percent-encoded byte sequence that is not UTF-8 (a lone surrogate, say): no text to look up or store.
    return new SynclineError(
      'INVALID_TEXT',
      'The URL path is not valid percent-encoded UTF-8 text; encode ids with encodeURIComponent and send valid Unicode.',
    );
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new SynclineError('UNSUPPORTED_MEDIA_TYPE');
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return new SynclineError('INVALID_JSON', 'The request body is empty; send a JSON object.');
  if (err instanceof SyntaxError || code === 'FST_ERR_CTP_INVALID_JSON_BODY') return new SynclineError('INVALID_JSON');
  if (
    CONNECTION_CODES.has(code) ||
    code.startsWith('08') ||
    /Connection terminated|connect ECONNREFUSED|PGlite is closed/i.test(e?.message ?? '')
  ) {
    return new SynclineError('STORAGE_UNAVAILABLE', undefined, undefined, { cause: err });
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new SynclineError('BAD_REQUEST', e.message);
  }
  return new SynclineError('INTERNAL', undefined, undefined, { cause: err });
}

export type { ErrorBody };

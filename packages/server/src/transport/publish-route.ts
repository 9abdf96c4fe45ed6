/**
 * `POST /publish` (esink): a trusted backend pushes an event to default-namespace
 * clients without writing the database. Body: `{data, type, securityToken,
 * userId, table, timestamp?, source?, version?}`.
 *
 * Checks, in order: 403 PUBLISH_DISABLED (no SECURITY_TOKEN configured);
 * 400 when the body is not an object; 401 UNAUTHORIZED (securityToken wrong,
 * compared in constant time); 400 VALIDATION_FAILED; then 200 once emitted
 * (500 INTERNAL if emitting fails). The event is routed and filtered like any
 * change, and reaches at most `userId` (`"*"`: everyone the routing allows).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { SynclineError } from '@syncline/protocol';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config/options.js';
import { parseWith, toSynclineError } from './errors.js';
import type { EsinkEvent } from './esink-namespace.js';
import { EsinkEventSchema } from './esink-namespace.js';

const PublishBodySchema = EsinkEventSchema.extend({
  userId: z.union([z.string().min(1).max(256), z.number()]).transform(String),
});

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time: both sides are hashed to 32 bytes, so neither content nor length shows in the timing. */
export function tokenMatches(given: unknown, expected: string): boolean {
  return typeof given === 'string' && timingSafeEqual(digest(given), digest(expected));
}

export function registerPublishRoute(
  app: FastifyInstance,
  config: Pick<Config, 'securityToken'>,
  publish: (event: EsinkEvent) => void,
): void {
  app.post('/publish', async (req, reply) => {
    try {
      if (!config.securityToken) throw new SynclineError('PUBLISH_DISABLED');
      const body = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new SynclineError('VALIDATION_FAILED', 'body: expected a JSON object', { path: 'body' });
      }
      if (!tokenMatches((body as { securityToken?: unknown }).securityToken, config.securityToken)) {
        throw new SynclineError('UNAUTHORIZED', 'body.securityToken does not match SECURITY_TOKEN.');
      }
      publish(parseWith(PublishBodySchema, body, 'body'));
      return reply.status(200).send({ code: 200, message: 'Published.' });
    } catch (err) {
      const e = toSynclineError(err);
      if (e.status >= 500) req.log.error({ err: e.cause ?? err }, 'POST /publish failed');
      return reply.status(e.status).send(e.toJSON());
    }
  });
}

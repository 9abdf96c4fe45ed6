/**
 * The REST API (SyncFlow-compatible): /health, /ping, /changes, /operations,
 * /documents/:collection/:id, /documents/:collection/query, /stats, /compact.
 * Every error leaves as `{error, message, code, details?}` with its registry status.
 */
import {
  ChangesRequestSchema,
  type ChangesResponse,
  CompactRequestSchema,
  DocumentIdSchema,
  isCollectionName,
  issueCode,
  PushRequestSchema,
  QueryRequestSchema,
  SynclineError,
} from '@syncline/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import sjson from 'secure-json-parse';
import type { Identity } from '../auth/authenticate.js';
import { Policy } from '../auth/policy.js';
import type { Config } from '../config/options.js';
import type { ChangesQuery, Storage } from '../storage/storage.js';
import { parseWith, toSynclineError } from './errors.js';
import { serverLimits } from './server-limits.js';
import { sendIndexPage } from './static-routes.js';

const HEALTH_TIMEOUT_MS = 2000;

function collectionParam(name: string): string {
  if (!isCollectionName(name)) {
    throw new SynclineError(
      'INVALID_COLLECTION',
      `Invalid collection name ${JSON.stringify(String(name).slice(0, 80))}: names must match [A-Za-z0-9_-]{1,64}.`,
    );
  }
  return name;
}

/** The caller (set by the auth hook, http-auth.ts); anonymous when a test registers routes alone. */
const who = (req: FastifyRequest): Identity => req.identity ?? { userId: null, claims: {}, method: 'anonymous' };

export function registerRoutes(
  app: FastifyInstance,
  storage: Storage,
  config: Config,
  policy: Policy = new Policy({}, true),
  /** Pulls through the read rules (auth/public-storage.ts visibleChanges); needed unless the policy is open. */
  pull?: (query: ChangesQuery, who: Identity) => Promise<ChangesResponse>,
  /** The event bus as /health reports it; `shared`: other instances depend on it (so down = degraded). */
  bus?: () => { kind: string; name: string; state: string; shared: boolean; stats: Record<string, number> },
): void {
  // Our own JSON parser so that malformed JSON and prototype-poisoning keys get distinct codes.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(new SynclineError('INVALID_JSON', 'The request body is empty; send a JSON object.'), undefined);
    try {
      done(null, sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      const forbidden = /prototype/i.test((err as Error).message);
      done(new SynclineError(forbidden ? 'FORBIDDEN_KEY' : 'INVALID_JSON'), undefined);
    }
  });
  app.setErrorHandler((err, req, reply) => {
    const e = toSynclineError(err);
    if (e.status >= 500) req.log.error({ err: e.cause ?? err }, e.message);
    reply.status(e.status).send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new SynclineError('NOT_FOUND', `No endpoint ${req.method} ${req.url.split('?')[0]}; see the API reference in README.md.`);
    reply.status(404).send(e.toJSON());
  });

  // Clients size their pushes by these (the HTTP transport reads them here).
  const limits = serverLimits(config);
  app.get('/health', async (_req, reply) => {
    try {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('health check timed out')), HEALTH_TIMEOUT_MS);
      });
      const position = await Promise.race([storage.currentPosition(), timeout]).finally(() => clearTimeout(timer));
      const b = bus?.();
      if (!b) return { status: 'ok', adapter: storage.adapter, position, limits };
      // Bus down: writes and reads work, other instances' changes arrive by reading the log (later).
      const status = b.shared && b.state !== 'up' ? 'degraded' : 'ok';
      return { status, adapter: storage.adapter, position, bus: { kind: b.kind, name: b.name, state: b.state, ...b.stats }, limits };
    } catch {
      return reply.status(503).send({
        status: 'error',
        adapter: storage.adapter,
        code: 'STORAGE_UNAVAILABLE',
        message: 'The database cannot be reached.',
        limits,
      });
    }
  });

  app.get('/ping', async (_req, reply) => reply.type('text/plain').send('pong'));

  // Where a newcomer lands after `npm start`: browsers get the demo's page when one is served (static-routes.ts).
  app.get('/', async (req, reply) => {
    if (sendIndexPage(req, reply, config)) return reply;
    return index();
  });
  const index = () => ({
    name: 'Syncline',
    adapter: storage.adapter,
    endpoints: [
      'GET /health',
      'GET /ping',
      'POST /operations',
      'POST /changes',
      'GET /documents/:collection/:id',
      'POST /documents/:collection/query',
      'GET /stats',
      'POST /compact',
      'POST /publish',
      'GET /metrics',
      'GET /admin/api/overview',
      'GET /admin/api/series',
      'GET /admin/api/clients',
      'GET /admin/api/operations',
      'GET /admin/api/collections',
      'Socket.IO namespaces: / (esink events), /sync, /sendActions',
    ],
    docs: 'See README.md, "API reference".',
  });

  app.post('/changes', async (req, reply) => {
    const body = parseWith(ChangesRequestSchema, req.body ?? {}, 'body');
    const query: ChangesQuery = {
      since: body.sinceTimestamp === undefined ? body.since : await storage.positionAtTime(body.sinceTimestamp),
      limit: Math.min(body.limit ?? config.defaultChangesLimit, config.maxChangesLimit),
    };
    // The user presenting a client id claims it (CLIENT_ID_TAKEN if it is another user's).
    if (body.clientId) {
      query.clientId = body.clientId;
      query.userId = who(req).userId;
    }
    const page = async () =>
      policy.open || !pull
        ? storage.getChangesJson(query)
        : // Only what the caller may read; the checkpoint still passes the rest, so their positions stay gap-free.
          JSON.stringify(await pull(query, who(req)));
    let json = await page();
    // Nothing after `since`: if it is beyond the head it was never a position but a SyncFlow client's
    // newest timestamp; answer with what was committed since that time instead of silence forever.
    if (body.sinceTimestamp === undefined && body.since > 0 && json.length < 512 && emptyPage(json)) {
      if (body.since > (await storage.currentPosition())) {
        query.since = await storage.positionAtTime(body.since);
        json = await page();
      }
    }
    return reply.type('application/json; charset=utf-8').send(json);
  });

  app.post('/operations', async (req) => {
    const body = parseWith(PushRequestSchema, req.body, 'body');
    if (body.operations.length > config.maxOperations) {
      throw new SynclineError(
        'TOO_MANY_OPERATIONS',
        `${body.operations.length} operations in one request; the limit is ${config.maxOperations} (SYNCLINE_MAX_OPERATIONS).`,
        { limit: config.maxOperations, received: body.operations.length },
      );
    }
    const caller = who(req);
    const res = await storage.applyOperations(
      { clientId: body.clientId, userId: caller.userId },
      policy.prepare(body.operations, caller),
      policy.authorizer(caller),
    );
    return policy.guardPush(res, caller);
  });

  app.get<{ Params: { collection: string; id: string } }>('/documents/:collection/:id', async (req) => {
    const collection = collectionParam(req.params.collection);
    const id = req.params.id;
    const checked = DocumentIdSchema.safeParse(id);
    if (!checked.success) {
      const code = issueCode(checked.error.issues[0]) ?? 'INVALID_DOCUMENT_ID';
      throw new SynclineError(code, undefined, { path: 'params.id' });
    }
    const found = await storage.getDocument(collection, id);
    // One the caller may not read is answered as missing: its existence is not theirs to know.
    const doc = found && policy.canRead(collection, who(req), found) ? found : null;
    if (!doc) {
      throw new SynclineError('DOCUMENT_NOT_FOUND', `No document with ID '${id}' in collection '${collection}'`, {
        collection,
        id,
      });
    }
    return doc;
  });

  app.post<{ Params: { collection: string } }>('/documents/:collection/query', async (req) => {
    const collection = collectionParam(req.params.collection);
    const body = parseWith(QueryRequestSchema, req.body ?? {}, 'body');
    // No filter or sort on hidden fields: 1 row vs 0 would reveal their values.
    policy.checkQuery(collection, body);
    // The read rule becomes part of the query (and of its cursors, which are then the caller's own).
    const rule = policy.readFilter(collection, who(req));
    if (Object.keys(rule).length > 0) body.filter = { $and: [body.filter ?? {}, rule] };
    return storage.queryDocuments(collection, body);
  });

  app.get('/stats', async () => storage.getStats());

  app.post('/compact', async (req) => {
    const body = parseWith(CompactRequestSchema, req.body ?? {}, 'body');
    return storage.compact(body.olderThanDays);
  });
}

/** A `/changes` page without operations (the body is short then; parsed only to be sure). */
function emptyPage(json: string): boolean {
  const page = JSON.parse(json) as { operations?: unknown[] };
  return Array.isArray(page.operations) && page.operations.length === 0;
}

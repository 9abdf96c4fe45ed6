/**
 * Namespace `/sendActions`: batches of CRUD actions with an individual
 * ACK/NACK per action and a FIN-confirmed commit (the reference sync server).
 *
 * Client → server:
 * - `sendActions` `[{id, type: CREATE|READ|UPDATE|DELETE, collection, data}]`;
 *   the record id is `data.id` (generated for a CREATE without one), its fields
 *   the rest of `data`. UPDATE merges the given fields into the record (patch).
 * - `clientFin` `{id}`: commit that ACKed action; without an id, the oldest one.
 * - `sendProductActions`: the reference's client; collection `product`, ids optional.
 * Server → client: `connected`, `actionResult` (`productActionResult` for the
 * compat event) `{id, status: ACK, data}` | `{id, status: NACK, error}`,
 * `actionCommitted` `{id, position}`, `actionRolledBack` `{id, reason}`,
 * `error` `{code, message}` for a bad batch or an unknown event; TOKEN_EXPIRED when the token
 * expired: open actions roll back (reason `expired`) and every event is refused until `auth`
 * (socket-expiry.ts).
 *
 * Idempotency: an action's operation id is derived from the client id (handshake
 * `auth.clientId` or query `clientId`) and the action id, so a retried action is
 * applied once, also after a reconnect. Without a client id the socket id stands
 * in, and retries are recognized only on the same connection. The id is scoped
 * to the user (operation-scope.ts): a client id another user owns is NACKed
 * CLIENT_ID_TAKEN.
 */
import { randomUUID } from 'node:crypto';
import { ClientIdSchema, errorRef, INVALID_TEXT_MESSAGE, issueCode } from '@syncline/protocol';
import type { Server, Socket } from 'socket.io';
import { ActionBudget } from './send-actions-budget.js';
import { operationId, parseActions } from './send-actions-parse.js';
import { type ActionHub, ActionSession } from './send-actions-session.js';
import type { SocketDeps, StopNamespace } from './socket-deps.js';
import { AUTH_EVENT } from './socket-expiry.js';

const EVENTS = new Set(['sendActions', 'sendProductActions', 'clientFin', AUTH_EVENT]);

export async function registerSendActions(io: Server, deps: SocketDeps): Promise<StopNamespace> {
  const { config, storage } = deps;
  const runner = await storage.createActionRunner?.({
    mode: config.actionMode,
    databaseUrl: config.databaseUrl,
    maxOpenActions: config.maxOpenActions,
    finTimeoutMs: config.finTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
  });
  const inflight = new Set<Promise<unknown>>();
  const hub: ActionHub = {
    ...deps,
    runner,
    locks: new Set(),
    budget: new ActionBudget(config),
    stopping: false,
    track(p) {
      const t = p.catch((err) => deps.log.error({ err }, '/sendActions: unexpected failure')).finally(() => inflight.delete(t));
      inflight.add(t);
    },
  };
  const sessions = new Set<ActionSession>();
  const nsp = io.of('/sendActions');
  if (deps.metrics) {
    deps.metrics.sources.openActions = () => hub.budget.open;
    deps.metrics.sources.maxOpenActions = config.maxOpenActions;
  }

  nsp.on('connection', (socket: Socket) => {
    const given = socket.handshake.auth?.clientId ?? socket.handshake.query?.clientId;
    const parsedId = given === undefined ? undefined : ClientIdSchema.safeParse(given);
    const clientId = parsedId?.success ? parsedId.data : `socket:${socket.id}`;
    const session = new ActionSession(socket, hub, clientId, !parsedId?.success);
    sessions.add(session);
    if (parsedId && !parsedId.success) {
      const code = issueCode(parsedId.error.issues[0]) ?? 'VALIDATION_FAILED';
      const why = code === 'INVALID_TEXT' ? INVALID_TEXT_MESSAGE : 'expected a string of 1 to 128 characters';
      session.emitError(errorRef(code, `clientId: ${why}; using this connection’s id instead.`));
    }
    let compatSeq = 0;
    // The token expired: what it opened is not committed by a later FIN (which is refused anyway).
    deps.expiry.track(socket, { expired: () => hub.track(session.closeAll('expired')) });

    const batch = (payload: unknown, compat: boolean) => {
      const parsed = parseActions(payload, {
        maxActions: config.maxOperations,
        ...(compat ? { collection: 'product' } : {}),
        newActionId: () => `product-${++compatSeq}`,
        newDocId: randomUUID,
        opIdFor: (key) => operationId(clientId, key),
      });
      if ('error' in parsed) return session.emitError(parsed.error);
      for (const item of parsed.items) {
        if (item.ok) session.start(item.action, compat);
        else if (item.wireId === undefined) session.emitError(item.error, { index: item.index });
        else session.refuse(item.wireId, compat, item.error);
      }
    };
    const guard =
      (fn: (payload: unknown) => void) =>
      (payload: unknown): void => {
        try {
          fn(payload);
        } catch (err) {
          deps.log.error({ err }, '/sendActions: handler failed');
          session.emitError(errorRef('INTERNAL'));
        }
      };
    socket.on(
      'sendActions',
      guard((p) => batch(p, false)),
    );
    socket.on(
      'sendProductActions',
      guard((p) => batch(p, true)),
    );
    socket.on(
      'clientFin',
      guard((p) => session.fin(p)),
    );
    socket.onAny((event: string) => {
      if (!EVENTS.has(event)) {
        session.emitError(
          errorRef('UNKNOWN_EVENT', `/sendActions does not handle the event ${JSON.stringify(String(event).slice(0, 80))}.`),
        );
      }
    });
    socket.on('disconnect', () => {
      sessions.delete(session);
      hub.track(session.closeAll('disconnect'));
    });
    socket.emit('connected', {
      clientId,
      finTimeoutMs: config.finTimeoutMs,
      maxActionsPerBatch: config.maxOperations,
      maxOpenActionsPerSocket: config.maxOpenActionsPerSocket,
      maxOpenActionsPerUser: config.maxOpenActionsPerUser,
    });
  });

  return async () => {
    hub.stopping = true;
    // Open actions roll back (their clients hear 'shutdown' while still connected).
    await Promise.all([...sessions].map((s) => s.closeAll('shutdown')));
    while (inflight.size > 0) await Promise.allSettled([...inflight]);
    nsp.removeAllListeners('connection');
    await runner?.close();
  };
}

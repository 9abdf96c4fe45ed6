/**
 * Responses sent before their request body has arrived: a 413 decided from
 * Content-Length (or part way through a chunked body), a 401/429 from a hook, a
 * 404 for a POST. Fastify closes the connection after a body error; closing a
 * socket while the client is still sending makes the kernel answer with a
 * reset, and the client (fetch) then reports EPIPE/ECONNRESET instead of the
 * coded response. So every such response first waits for the rest of the body,
 * discarding it (nothing is buffered), up to `maxBytes`; past that the
 * connection is closed anyway. The time it may take is bounded by the request
 * timeout (SYNCLINE_REQUEST_TIMEOUT_MS), which ends a stalled upload.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** Reads and discards the rest of a request body; true once it ended within `maxBytes`. */
export function discardBody(req: IncomingMessage, maxBytes: number): Promise<boolean> {
  if (req.complete || req.readableEnded) return Promise.resolve(true);
  if (req.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let seen = 0;
    const done = (ended: boolean) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) done(false);
    };
    const onEnd = () => done(true);
    const onClose = () => done(req.complete);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', onClose);
    req.resume();
  });
}

export function registerBodyDrain(app: FastifyInstance, maxBytes: number): void {
  // A callback hook: the common case (body complete) costs no promise.
  app.addHook('onSend', (req, reply, payload, done) => {
    const raw = req.raw;
    if (raw.complete || raw.readableEnded) return done(null, payload);
    discardBody(raw, maxBytes).then((ended) => {
      // Past the bound the connection cannot be reused: the rest of the body would be read as a request.
      if (!ended) reply.header('connection', 'close');
      done(null, payload);
    });
  });
}

/**
 * What the server takes in one request, announced to clients so they never send
 * more: the `/sync` server → client event `limits` (emitted on every connection,
 * before any reply) and `limits` in `GET /health`. A message over the socket
 * limit makes Socket.IO close the connection (the client would reconnect and
 * resend it forever), a body over the body limit is 413, so a client splits its
 * batches to fit and refuses a single write that cannot fit.
 */
import { z } from 'zod';

const bytes = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const ServerLimitsSchema = z.object({
  /** Largest REST request body in bytes (SYNCLINE_BODY_LIMIT). */
  bodyLimit: bytes,
  /** Largest Socket.IO message in bytes (SYNCLINE_SOCKET_MAX_MESSAGE_BYTES); a larger one closes the connection. */
  socketMaxMessageBytes: bytes,
  /** Most operations in one push (SYNCLINE_MAX_OPERATIONS). */
  maxOperations: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});
export type ServerLimits = z.infer<typeof ServerLimitsSchema>;

/** The server's defaults: what a client assumes until a server announced its own. */
export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  bodyLimit: 1024 * 1024,
  socketMaxMessageBytes: 1024 * 1024,
  maxOperations: 1000,
});

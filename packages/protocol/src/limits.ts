/**
 * What the server takes in one request, announced to clients so they never send
 * more: the `/sync` server → client event `limits` (emitted on every connection,
 * before any reply) and `limits` in `GET /health`. A message over the socket
 * limit makes Socket.IO close the connection (the client would reconnect and
 * resend it forever), a body over the body limit is 413, so a client splits its
 * batches to fit and refuses a single write that cannot fit.
 *
 * No zod here: the client reads these (its browser bundle stays without a schema library);
 * the same rules as a zod schema are in limits-schema.ts.
 */

export interface ServerLimits {
  /** Largest REST request body in bytes (SYNCLINE_BODY_LIMIT). */
  bodyLimit: number;
  /** Largest Socket.IO message in bytes (SYNCLINE_SOCKET_MAX_MESSAGE_BYTES); a larger one closes the connection. */
  socketMaxMessageBytes: number;
  /** Most operations in one push (SYNCLINE_MAX_OPERATIONS). */
  maxOperations: number;
}

/** The server's defaults: what a client assumes until a server announced its own. */
export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  bodyLimit: 1024 * 1024,
  socketMaxMessageBytes: 1024 * 1024,
  maxOperations: 1000,
});

const isLimit = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;

/** The three limits of an announcement, or undefined when any is missing or not a positive safe integer. */
export function parseServerLimits(value: unknown): ServerLimits | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { bodyLimit, socketMaxMessageBytes, maxOperations } = value as Record<string, unknown>;
  if (!isLimit(bodyLimit) || !isLimit(socketMaxMessageBytes) || !isLimit(maxOperations)) return undefined;
  return { bodyLimit, socketMaxMessageBytes, maxOperations };
}

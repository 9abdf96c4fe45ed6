/**
 * Sizing pushes to the server's limits. A push the server will not take is
 * worse than useless: over Socket.IO a message above the socket limit closes
 * the connection (the client reconnects and resends it forever), over HTTP it
 * is answered 413 again and again. So a batch is cut to fit both the byte and
 * the operation limit, and a write that cannot fit even alone is refused.
 */
import type { Operation } from '@syncline/protocol';
import { TransportError } from './transport/transport.js';

/** UTF-8 length of a string without encoding it (what the server counts). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

export interface BatchPlan {
  /** How many of the operations, from the first, go in this push (0: the first does not fit alone). */
  count: number;
  /** Encoded size of `{clientId, operations}` with those operations (with the first alone when count is 0). */
  bytes: number;
}

/**
 * The longest prefix of `ops` whose push `{clientId, operations}` fits: the first operation alone
 * may use up to `maxBytes`; more than one only up to `packBytes` (what 413 answers taught, ≤ maxBytes).
 */
export function planBatch(clientId: string, ops: Operation[], maxBytes: number, packBytes: number = maxBytes): BatchPlan {
  let bytes = utf8Length(JSON.stringify({ clientId, operations: [] }));
  let count = 0;
  for (const op of ops) {
    const size = utf8Length(JSON.stringify(op)) + (count > 0 ? 1 : 0); // the comma between operations
    if (count === 0 && bytes + size > maxBytes) return { count: 0, bytes: bytes + size };
    if (count > 0 && bytes + size > Math.min(maxBytes, packBytes)) break;
    bytes += size;
    count++;
  }
  return { count, bytes };
}

/** The server refused a push for its size (413: PAYLOAD_TOO_LARGE, TOO_MANY_OPERATIONS, or a proxy's bare 413). */
export function isTooLarge(err: unknown): err is TransportError {
  return err instanceof TransportError && (err.status === 413 || err.code === 'PAYLOAD_TOO_LARGE' || err.code === 'TOO_MANY_OPERATIONS');
}

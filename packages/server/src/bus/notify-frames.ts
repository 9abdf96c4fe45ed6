/**
 * Framing of bus payloads into PostgreSQL NOTIFY payloads, which are text of at
 * most 8000 bytes. Chunking keeps the PostgreSQL bus free of tables: every
 * chunk of a payload goes out in one statement (one transaction), so the chunks
 * commit together and reach each listener together, after the payloads sent
 * before them.
 *
 *   one frame:  `<t>|<data>`
 *   chunked:    `<t><id>:<index>/<count>|<data>`   (index from 0)
 *
 * `<t>` is `s` for text (sent as is, split at UTF-8 character boundaries) or `b`
 * for binary (base64). The database encoding must be UTF-8 (the default).
 */
import type { BusPayload } from './transport.js';

/** Data bytes per NOTIFY payload, leaving room for the header under PostgreSQL's 8000. */
export const FRAME_DATA_BYTES = 7900;

export function encodeFrames(payload: BusPayload, id: string, maxBytes = FRAME_DATA_BYTES): string[] {
  const type = typeof payload === 'string' ? 's' : 'b';
  const parts = typeof payload === 'string' ? splitUtf8(payload, maxBytes) : splitAscii(toBase64(payload), maxBytes);
  if (parts.length === 1) return [`${type}|${parts[0]}`];
  return parts.map((part, i) => `${type}${id}:${i}/${parts.length}|${part}`);
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function splitAscii(s: string, max: number): string[] {
  const parts: string[] = [];
  for (let i = 0; i < s.length; i += max) parts.push(s.slice(i, i + max));
  return parts.length ? parts : [''];
}

function splitUtf8(s: string, max: number): string[] {
  // A UTF-16 code unit is at most 3 UTF-8 bytes (a surrogate pair, 2 units, is 4).
  if (s.length * 3 <= max) return [s];
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length <= max) return [s];
  const parts: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + max, bytes.length);
    // Never cut inside a character: back up over continuation bytes (10xxxxxx).
    while (end < bytes.length && end > start && ((bytes[end] as number) & 0xc0) === 0x80) end--;
    parts.push(bytes.toString('utf8', start, end));
    start = end;
  }
  return parts;
}

interface Partial {
  type: string;
  parts: (string | undefined)[];
  missing: number;
  bytes: number;
}

/**
 * Reassembles frames into payloads. Bounded: at most `maxPending` incomplete
 * payloads and `maxPendingBytes` of their data are kept (the oldest is dropped
 * first); a chunked payload may have at most `maxChunks` chunks.
 */
export class FrameAssembler {
  readonly #pending = new Map<string, Partial>();
  #pendingBytes = 0;

  constructor(private readonly limits = { maxPending: 64, maxPendingBytes: 64 * 1024 * 1024, maxChunks: 16 * 1024 }) {}

  /** The payload this frame completes, `undefined` if it waits for more, or throws on a malformed frame. */
  push(frame: string): BusPayload | undefined {
    const bar = frame.indexOf('|');
    const type = frame[0];
    if (bar < 1 || (type !== 's' && type !== 'b')) throw new Error('not a bus frame');
    const data = frame.slice(bar + 1);
    if (bar === 1) return decode(type, data);
    const match = /^([A-Za-z0-9.]+):(\d+)\/(\d+)$/.exec(frame.slice(1, bar));
    if (!match) throw new Error('malformed bus frame header');
    const [, id, indexText, countText] = match as unknown as [string, string, string, string];
    const index = Number(indexText);
    const count = Number(countText);
    if (count < 2 || count > this.limits.maxChunks || index >= count) throw new Error('bus frame index out of range');
    let partial = this.#pending.get(id);
    if (!partial) {
      partial = { type, parts: new Array(count), missing: count, bytes: 0 };
      this.#pending.set(id, partial);
    }
    if (partial.parts.length !== count || partial.type !== type) throw new Error('bus frames disagree');
    if (partial.parts[index] !== undefined) return undefined;
    partial.parts[index] = data;
    partial.missing--;
    partial.bytes += data.length;
    this.#pendingBytes += data.length;
    if (partial.missing === 0) {
      this.#forget(id, partial);
      return decode(type, partial.parts.join(''));
    }
    this.#evict();
    return undefined;
  }

  /** Forgets incomplete payloads (their other chunks will not come: the connection was lost). */
  clear(): void {
    this.#pending.clear();
    this.#pendingBytes = 0;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  #forget(id: string, partial: Partial): void {
    this.#pending.delete(id);
    this.#pendingBytes -= partial.bytes;
  }

  #evict(): void {
    for (const [id, partial] of this.#pending) {
      if (this.#pending.size <= this.limits.maxPending && this.#pendingBytes <= this.limits.maxPendingBytes) return;
      this.#forget(id, partial);
    }
  }
}

function decode(type: string, data: string): BusPayload {
  if (type === 's') return data;
  const buf = Buffer.from(data, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

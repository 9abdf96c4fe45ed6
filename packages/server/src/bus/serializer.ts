import type { BusPayload } from './transport.js';

/**
 * A bus message: `kind` says what it is ('changes', 'publish', …; the server
 * defines the kinds), `origin` is the id of the instance that published it (set
 * by the bus). Everything else is the kind's own data.
 */
export interface BusMessage {
  kind: string;
  origin?: string;
  [key: string]: unknown;
}

/**
 * Turns messages into payloads and back. `deserialize` receives what `serialize`
 * returned, or, for a string, possibly its UTF-8 bytes (see BusTransport). It may
 * throw on a payload it cannot read; the bus counts and drops that message.
 */
export interface Serializer {
  serialize(message: BusMessage): BusPayload;
  deserialize(payload: BusPayload): unknown;
}

export type SerializerOption = 'json' | 'msgpack' | Serializer;

const decoder = new TextDecoder();

/** The default: JSON text. A Date arrives as its ISO string, a Uint8Array as an object of indexes. */
export const jsonSerializer: Serializer = {
  serialize: (message) => JSON.stringify(message),
  deserialize: (payload) => JSON.parse(typeof payload === 'string' ? payload : decoder.decode(payload)),
};

/**
 * MessagePack (binary): Dates arrive as Dates, Uint8Array (and Buffer) as
 * Uint8Array. Loads `@msgpack/msgpack` on first use.
 */
export async function loadMsgpackSerializer(): Promise<Serializer> {
  const { encode, decode } = await import('@msgpack/msgpack');
  const encoder = new TextEncoder();
  return {
    serialize: (message) => encode(message),
    deserialize: (payload) => decode(typeof payload === 'string' ? encoder.encode(payload) : payload),
  };
}

export async function resolveSerializer(option: SerializerOption | undefined): Promise<Serializer> {
  if (option === undefined || option === 'json') return jsonSerializer;
  if (option === 'msgpack') return loadMsgpackSerializer();
  return option;
}

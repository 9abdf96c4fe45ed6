/** The REST transport (the reference's HTTP polling client): push with POST /operations, pull with POST /changes. */
import {
  type Change,
  DEFAULT_SERVER_LIMITS,
  type Filter,
  type Operation,
  type PushResponse,
  parseServerLimits,
  type QueryResponse,
  type ServerLimits,
} from '@syncline/protocol';
import { type PushLimits, rest, type TokenSource, type Transport, TransportError, type TransportEvents } from './transport.js';

export interface HttpTransportOptions {
  url: string;
  token?: TokenSource;
  fetch?: typeof fetch;
}

export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  private online = false;
  private events: TransportEvents | undefined;
  /** The server's limits from `GET /health`, read once per connect (undefined: not announced, use the defaults). */
  private limits: Promise<ServerLimits | undefined> | undefined;

  constructor(private readonly opts: HttpTransportOptions) {}

  get connected(): boolean {
    return this.online;
  }

  connect(events: TransportEvents): void {
    this.events = events;
    this.online = true;
    this.limits = undefined;
    events.online();
  }

  disconnect(): void {
    this.online = false;
    this.events = undefined;
  }

  /** A failed request: the network went away (the client polls again later). */
  private async call<T>(path: string, body: unknown): Promise<T> {
    if (!this.online) throw new TransportError('NETWORK', 'Not connected.');
    try {
      return await rest<T>(this.opts.fetch ?? fetch, this.opts.url, path, body, this.opts.token);
    } catch (err) {
      if (err instanceof TransportError && (err.code === 'UNAUTHORIZED' || err.code === 'FORBIDDEN') && path !== '/operations') {
        this.events?.refused(err.code, err.message);
      }
      throw err;
    }
  }

  async pushLimits(): Promise<PushLimits> {
    this.limits ??= this.readLimits();
    const l = (await this.limits) ?? DEFAULT_SERVER_LIMITS;
    return { maxBytes: l.bodyLimit, maxOperations: l.maxOperations, setting: 'SYNCLINE_BODY_LIMIT' };
  }

  private async readLimits(): Promise<ServerLimits | undefined> {
    const fetchFn = this.opts.fetch ?? fetch;
    try {
      const res = await fetchFn(`${this.opts.url}/health`);
      const body = (await res.json().catch(() => undefined)) as { limits?: unknown } | undefined;
      return parseServerLimits(body?.limits);
    } catch {
      // Unreachable now: ask again next time (the push itself will fail and be retried).
      this.limits = undefined;
      return undefined;
    }
  }

  push(clientId: string, operations: Operation[]): Promise<PushResponse> {
    return this.call<PushResponse>('/operations', { clientId, operations });
  }

  async pull(since: number, limit: number): Promise<{ changes: Change[]; checkpoint: number; hasMore: boolean }> {
    const r = await this.call<{ operations: Change[]; checkpoint: number; hasMore: boolean }>('/changes', { since, limit });
    return { changes: r.operations, checkpoint: r.checkpoint, hasMore: r.hasMore };
  }

  query(collection: string, cursor: string | undefined, limit: number, filter?: Filter): Promise<QueryResponse> {
    return this.call<QueryResponse>(`/documents/${encodeURIComponent(collection)}/query`, {
      limit,
      ...(cursor ? { cursor } : {}),
      ...(filter ? { filter } : {}),
    });
  }
}

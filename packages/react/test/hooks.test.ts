// @vitest-environment happy-dom
/**
 * @syncline/react in a DOM (happy-dom, @testing-library/react) against a real
 * server (`syncline serve` on embedded PGlite, in its own process: the server
 * is not meant to run under a DOM's globals): the hooks show live data, and a
 * component renders again only when what it shows changed (counted renders,
 * per row for `memo` rows).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
// The built client, as the react package itself imports it (global-setup builds it).
import { createClient, type Doc, MemoryStore, type SynclineClient } from '@syncline/client';
import { act, cleanup, configure, render, screen, waitFor } from '@testing-library/react';
import { createElement as h, memo, StrictMode, useMemo } from 'react';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SynclineProvider, useDocument, useQuery, useSyncStatus } from '../src/index.js';

// Not `new URL(..., import.meta.url)`: URL is happy-dom's here.
const CLI = resolve(import.meta.dirname, '../../server/dist/cli.js');
let server: ChildProcess;
let url: string;
const clients: SynclineClient[] = [];
let n = 0;
const fresh = () => `react${++n}`;

function make(): SynclineClient {
  const c = createClient({ url, store: new MemoryStore(), socketOptions: { transports: ['websocket'] } });
  clients.push(c);
  return c;
}

/** Renders `element` under a provider of `client`, in StrictMode (double effects must not double anything). */
function mount(client: SynclineClient, element: ReturnType<typeof h>) {
  return render(h(StrictMode, null, h(SynclineProvider, { client }, element)));
}

const text = (id: string) => screen.getByTestId(id).textContent;
// A write's round trip through the server can take seconds on a loaded machine (the default wait is 1 s).
configure({ asyncUtilTimeout: 20_000 });

beforeAll(async () => {
  server = spawn(process.execPath, [CLI, 'serve'], {
    env: { PATH: process.env.PATH ?? '', SYNCLINE_DATA_DIR: 'memory://', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log.push(chunk.toString());
      const m = /Syncline listening on (http:\/\/[0-9.:]+)/.exec(log.join(''));
      if (m?.[1]) resolve(m[1]);
    };
    server.stdout?.on('data', onData);
    server.stderr?.on('data', onData);
    server.once('exit', (code) => reject(new Error(`the server exited with ${code}:\n${log.join('')}`)));
  });
});
afterEach(async () => {
  cleanup();
  for (const c of clients.splice(0)) await c.close();
});
afterAll(async () => {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await exited;
});

interface Item {
  title: string;
  price: number;
  done?: boolean;
}

describe('useQuery', () => {
  test('shows the filtered, sorted, limited window, follows remote writes, loading first', async () => {
    const col = fresh();
    const writer = make();
    const items = writer.collection(col);
    for (const [id, title, price] of [
      ['a', 'apple', 3],
      ['b', 'bread', 1],
      ['c', 'cheese', 5],
      ['d', 'dates', 2],
    ] as const) {
      await items.insert({ _id: id, title, price, done: false });
    }
    await writer.whenSynced();

    const seen: string[] = [];
    function Cheapest() {
      const { docs, total, loading } = useQuery<Item>(col, { filter: { done: false }, sort: { price: 'asc' }, limit: 2 });
      const shown = loading ? 'loading' : `${docs.map((d) => d.title).join(',')} of ${total}`;
      seen.push(shown);
      return h('p', { 'data-testid': 'list' }, shown);
    }
    const reader = make();
    mount(reader, h(Cheapest));
    expect(seen[0]).toBe('loading');
    await waitFor(() => expect(text('list')).toBe('bread,dates of 4'));

    await items.update('a', { price: 0 }); // another client: through the server
    await waitFor(() => expect(text('list')).toBe('apple,bread of 4'));
    await items.update('b', { done: true }); // leaves the filter
    await waitFor(() => expect(text('list')).toBe('apple,dates of 3'));
  }, 90_000);

  test('renders again only when its window changed; memo rows only for the document that changed', async () => {
    const col = fresh();
    const client = make();
    const items = client.collection(col);
    await items.insert({ _id: 'a', title: 'apple', price: 1 });
    await items.insert({ _id: 'b', title: 'bread', price: 2 });
    await items.insert({ _id: 'c', title: 'cheese', price: 3 });
    await items.insert({ _id: 'x', title: 'expensive', price: 100 });

    const rowRenders: Record<string, number> = {};
    let listRenders = 0;
    const Row = memo(function Row({ doc }: { doc: Item & Doc }) {
      rowRenders[doc._id] = (rowRenders[doc._id] ?? 0) + 1;
      return h('li', { 'data-testid': doc._id }, `${doc.title} ${doc.price} r${doc._rev ?? 0}`);
    });
    function Cheap() {
      listRenders++;
      const { docs } = useQuery<Item>(col, { filter: { price: { $lt: 10 } }, sort: { price: 'asc' } });
      return h(
        'ul',
        null,
        docs.map((d) => h(Row, { key: d._id, doc: d })),
      );
    }
    mount(client, h(Cheap));
    // Settled: every row shows the server's revision (the acknowledgements re-render them once more).
    await waitFor(() => expect(['a', 'b', 'c'].map(text)).toEqual(['apple 1 r1', 'bread 2 r1', 'cheese 3 r1']));
    const rowsBefore = { ...rowRenders };
    const listBefore = listRenders;

    // Outside the filter: the window is the same, nothing renders.
    await act(() => items.update('x', { title: 'still expensive' }));
    await act(() => client.whenSynced());
    expect(listRenders).toBe(listBefore);

    // One document of the window: the list renders again, and of the rows only b's.
    await act(() => items.update('b', { title: 'brioche' }));
    await waitFor(() => expect(text('b')).toBe('brioche 2 r2'));
    expect(listRenders).toBeGreaterThan(listBefore);
    expect(rowRenders.a).toBe(rowsBefore.a);
    expect(rowRenders.c).toBe(rowsBefore.c);
    expect(rowRenders.b).toBeGreaterThan(rowsBefore.b ?? 0);
  }, 90_000);

  test('a query the client refuses comes back as error, not as a crash', async () => {
    const client = make();
    const col = fresh();
    function Bad() {
      const { error, loading } = useQuery(col, { filter: { title: { $regex: 'x' } } as never });
      return h('p', { 'data-testid': 'bad' }, loading ? 'loading' : (error?.message ?? 'no error'));
    }
    mount(client, h(Bad));
    await waitFor(() => expect(text('bad')).toMatch(/\$regex/));
  }, 90_000);

  test('a Collection without a provider, and null (no client yet: loading until one comes)', async () => {
    const col = fresh();
    const client = make();
    await client.collection(col).insert({ _id: 'a', title: 'apple', price: 1 });
    function List({ c }: { c: SynclineClient | null }) {
      const collection = useMemo(() => c?.collection<Item>(col) ?? null, [c]);
      const { docs, loading } = useQuery<Item>(collection);
      return h('p', { 'data-testid': 'list' }, loading ? 'loading' : docs.map((d) => d.title).join());
    }
    const view = render(h(List, { c: null }));
    expect(text('list')).toBe('loading');
    view.rerender(h(List, { c: client }));
    await waitFor(() => expect(text('list')).toBe('apple'));
  }, 90_000);

  test('without a provider: a clear error', () => {
    function Orphan() {
      useQuery('todos');
      return null;
    }
    // React logs the thrown error; keep the output quiet.
    const original = console.error;
    console.error = () => {};
    try {
      expect(() => render(h(Orphan))).toThrow(/SynclineProvider/);
    } finally {
      console.error = original;
    }
  }, 90_000);
});

describe('useDocument', () => {
  test('one document, live: renders again for that document only, null once deleted', async () => {
    const col = fresh();
    const client = make();
    const items = client.collection(col);
    await items.insert({ _id: 'a', title: 'apple', price: 1 });
    await items.insert({ _id: 'b', title: 'bread', price: 2 });
    let renders = 0;
    function One() {
      renders++;
      const { doc, loading } = useDocument<Item>(col, 'a');
      return h('p', { 'data-testid': 'one' }, loading ? 'loading' : doc ? `${doc.title} ${doc.price} r${doc._rev ?? 0}` : 'none');
    }
    mount(client, h(One));
    await waitFor(() => expect(text('one')).toBe('apple 1 r1'));
    const before = renders;

    await act(() => items.update('b', { title: 'brioche' }));
    await act(() => client.whenSynced());
    expect(renders).toBe(before);

    await act(() => items.update('a', { price: 7 }));
    await waitFor(() => expect(text('one')).toBe('apple 7 r2'));
    await act(() => items.delete('a'));
    await waitFor(() => expect(text('one')).toBe('none'));
  }, 90_000);
});

describe('useSyncStatus', () => {
  test('follows the client: offline when paused, pending writes counted, online again after resume', async () => {
    const client = make();
    await client.whenSynced();
    function Status() {
      const s = useSyncStatus();
      return h('p', { 'data-testid': 'status' }, `${s.state} ${s.pending}`);
    }
    mount(client, h(Status));
    await waitFor(() => expect(text('status')).toBe('online 0'));
    act(() => client.pause());
    await waitFor(() => expect(text('status')).toBe('offline 0'));
    const col = client.collection(fresh());
    let write: Promise<unknown> = Promise.resolve();
    act(() => {
      write = col.insert({ _id: 'p', title: 'while offline' });
    });
    await waitFor(() => expect(text('status')).toBe('offline 1'));
    act(() => client.resume());
    await act(() => write);
    await waitFor(() => expect(text('status')).toBe('online 0'));
  }, 90_000);
});

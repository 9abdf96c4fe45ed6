/**
 * DESIGN invariant 2: `kill -9` of the server at any moment loses no
 * acknowledged operation. Writers push until the server is killed; after a
 * restart on the same data every acknowledged document is there, and the
 * change log (including writes committed but not yet sequenced when the
 * process died) holds each exactly once, in increasing positions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Change, PushResponse, WireDocument } from '@syncline/protocol';
import { expect, test } from 'vitest';
import { freePort } from '../../../test/free-port.js';

const cli = resolve(import.meta.dirname, '../dist/cli.js');

async function start(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [cli, 'serve'], {
    env: {
      ...process.env,
      DATABASE_URL: '',
      POSTGRES_DATABASE_URL: '',
      POSTGRES_CONNECTION_STRING: '',
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 1200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return { child, url };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server did not start');
}

const post = async <T>(url: string, body: unknown): Promise<T> => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};

export function registerDurabilityTest(name: string, env: () => Promise<NodeJS.ProcessEnv>): void {
  test(`${name}: kill -9 during writes loses no acknowledged operation`, async () => {
    const serverEnv = await env();
    const acked = new Set<string>();
    let { child, url } = await start(serverEnv);
    const exited = new Promise((r) => child.once('exit', r));
    let killed = false;
    const writer = async (w: number) => {
      for (let batch = 0; !killed; batch++) {
        const operations = Array.from({ length: 20 }, (_, i) => ({
          id: `k${w}-${batch}-${i}`,
          type: i % 5 === 4 ? 'upsert' : 'insert',
          collection: 'durable',
          docId: `d${w}-${batch}-${i}`,
          data: { w, batch, i },
        }));
        try {
          const res = await post<PushResponse>(`${url}/operations`, { clientId: `w${w}`, operations });
          for (const r of res.results) if (r.status === 'applied') acked.add(r.docId as string);
        } catch {
          return; // the server died mid-request: that batch was not acknowledged
        }
      }
    };
    const writers = Promise.all(Array.from({ length: 4 }, (_, w) => writer(w)));
    // Kill once writes are being acknowledged (a loaded machine may take seconds to get there),
    // at a random moment after that, so the kill lands anywhere in a request.
    for (const deadline = Date.now() + 60_000; acked.size < 20; ) {
      if (Date.now() > deadline) throw new Error('no write was acknowledged within 60 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, Math.random() * 400));
    killed = true;
    child.kill('SIGKILL');
    await exited;
    await writers;
    expect(acked.size).toBeGreaterThan(0);

    ({ child, url } = await start(serverEnv));
    try {
      const docs = new Set<string>();
      let cursor: string | undefined;
      do {
        const page = await post<{ documents: WireDocument[]; nextCursor?: string }>(`${url}/documents/durable/query`, {
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        });
        for (const d of page.documents) docs.add(d._id);
        cursor = page.nextCursor;
      } while (cursor);
      for (const id of acked) expect(docs.has(id)).toBe(true);

      const changes: Change[] = [];
      let since = 0;
      for (;;) {
        const page = await post<{ operations: Change[]; checkpoint: number; hasMore: boolean }>(`${url}/changes`, { since, limit: 1000 });
        changes.push(...page.operations);
        since = page.checkpoint;
        if (!page.hasMore) break;
      }
      const inLog = changes.filter((c) => c.collection === 'durable').map((c) => c.docId);
      expect(new Set(inLog).size).toBe(inLog.length);
      expect(new Set(inLog)).toEqual(docs);
      const positions = changes.map((c) => c.position);
      for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1] as number);
    } finally {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    }
  }, 180_000);
}

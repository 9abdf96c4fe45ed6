/**
 * Write groups (write-group.ts, migration 5): concurrent requests share one
 * write statement, which sequences itself before it commits. Each request
 * still gets its own results (rules, idempotency, conflicts), one request's
 * refusal or race costs the others nothing but a retry, a record held by
 * another transaction holds up only the requests that touch it, and positions
 * stay gap-free and duplicate-free.
 */
import type { Change, OperationResult } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { type Harness, opId, postgresHarness } from './harness.js';

const available = await postgresAvailable();

describe.skipIf(!available)('write groups (PostgreSQL)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await postgresHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  const insert = (collection: string, docId: string, id = opId()) => ({ id, type: 'insert', collection, docId, data: { docId } });
  const one = async (clientId: string, op: unknown) => (await h.storage.applyOperations(clientId, [op])).results[0] as OperationResult;

  async function allChanges(collection: string): Promise<Change[]> {
    const out: Change[] = [];
    let since = 0;
    for (;;) {
      const page = await h.storage.getChanges({ since, limit: 1000 });
      out.push(...page.operations);
      if (!page.hasMore) break;
      since = page.checkpoint;
    }
    return out.filter((c) => c.collection === collection);
  }

  test('concurrent single-operation requests share write transactions, each with its own result and a position', async () => {
    const c = 'wg-share';
    const n = 40;
    const ops = Array.from({ length: n }, (_, i) => insert(c, `d${i}`));
    const results = await Promise.all(ops.map((op, i) => one(`wg-client-${i}`, op)));
    for (const [i, r] of results.entries()) {
      expect(r).toMatchObject({ id: ops[i]?.id, status: 'applied', docId: `d${i}` });
      expect(r.position).toBeGreaterThan(0);
    }
    // Requests that waited for a group in flight were written together: fewer transactions than requests.
    const { rows } = await h.sql.query<{ n: number }>(
      `SELECT count(DISTINCT tx)::int AS n FROM ${h.schema}.changes WHERE collection = $1`,
      [c],
    );
    expect(rows[0]?.n).toBeLessThan(n);

    const changes = await allChanges(c);
    expect(changes.map((ch) => ch.docId).sort()).toEqual(ops.map((o) => o.docId).sort());
    const positions = changes.map((ch) => ch.position);
    expect(new Set(positions).size).toBe(n);
    for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1] as number);
    // Each acknowledged position is the operation's own change, though its commit is shared.
    for (const r of results) expect(changes.find((ch) => ch.id === r.id)?.position).toBe(r.position);
  });

  test("one request's conflict, reused id or repeat in a group leaves the others' results alone", async () => {
    const c = 'wg-mixed';
    const taken = await one('wg-m-owner', insert(c, 'taken'));
    expect(taken.status).toBe('applied');
    const reusedId = opId();
    expect((await one('wg-m-reuse', insert(c, 'first-body', reusedId))).status).toBe('applied');
    const repeat = insert(c, 'repeated');
    expect((await one('wg-m-repeat', repeat)).status).toBe('applied');

    const fresh = Array.from({ length: 12 }, (_, i) => insert(c, `fresh${i}`));
    const [exists, reused, again, ...applied] = await Promise.all([
      one('wg-m-other', insert(c, 'taken')),
      one('wg-m-reuse', insert(c, 'other-body', reusedId)),
      one('wg-m-repeat', repeat),
      ...fresh.map((op, i) => one(`wg-m-fresh-${i}`, op)),
    ]);
    expect(exists).toMatchObject({ status: 'conflict', error: { code: 'DOCUMENT_EXISTS' } });
    expect(reused).toMatchObject({ status: 'rejected', error: { code: 'IDEMPOTENCY_KEY_REUSED' } });
    expect(again).toMatchObject({ status: 'duplicate', originalStatus: 'applied' });
    for (const [i, r] of applied.entries()) expect(r).toMatchObject({ id: fresh[i]?.id, status: 'applied' });
    const docs = (await allChanges(c)).map((ch) => ch.docId);
    expect(docs.filter((d) => d === 'taken')).toHaveLength(1);
    expect(docs).not.toContain('other-body');
    for (const op of fresh) expect(docs.filter((d) => d === op.docId)).toHaveLength(1);
  });

  test('a record another transaction holds delays only the request that writes it', async () => {
    const c = 'wg-held';
    expect((await one('wg-h-owner', insert(c, 'held'))).status).toBe('applied');
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    // Another program holds the row until the others are done.
    const holder = h.sql.transaction(async (tx) => {
      await tx.query(`SELECT 1 FROM ${h.schema}.documents WHERE collection = $1 AND id = 'held' FOR UPDATE`, [c]);
      locked();
      await released;
    });
    await isLocked;
    const blocked = one('wg-h-writer', { id: opId(), type: 'update', collection: c, docId: 'held', data: { v: 2 } });
    const fresh = Array.from({ length: 10 }, (_, i) => insert(c, `free${i}`));
    // These finish while the row is still held (if they waited for it, this would never resolve).
    const others = await Promise.all(fresh.map((op, i) => one(`wg-h-free-${i}`, op)));
    for (const r of others) expect(r.status).toBe('applied');
    release();
    await holder;
    expect((await blocked).status).toBe('applied');
  });
});

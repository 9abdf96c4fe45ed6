import { SynclineError } from '@syncline/protocol';
import { describe, expect, test } from 'vitest';
import { ChangeFeed, type FeedBatch } from '../src/engine/change-feed.js';
import type { Storage } from '../src/storage/storage.js';
import { testChange } from './harness.js';

const change = (position: number) => testChange({ position, id: `op${position}`, docId: `d${position}` });

/** A change log of positions 1..head, compacted up to `horizon`, read in pages of 2. */
function fakeStorage(log: { head: number; horizon: number }): Storage {
  return {
    currentPosition: async () => 0,
    onCommit: async () => async () => {},
    async getChanges({ since }: { since: number }) {
      if (since < log.horizon) throw new SynclineError('RESYNC_REQUIRED', undefined, { since, horizon: log.horizon });
      const operations = [];
      for (let p = since + 1; p <= log.head && operations.length < 2; p++) operations.push(change(p));
      const last = operations.at(-1)?.position ?? since;
      return { operations, conflicts: [], checkpoint: Math.max(last, since), hasMore: last < log.head };
    },
  } as unknown as Storage;
}

describe('ChangeFeed', () => {
  test('reads every page in order, each batch saying exactly which range it covers', async () => {
    const batches: FeedBatch[] = [];
    const feed = new ChangeFeed(
      fakeStorage({ head: 5, horizon: 0 }),
      (b) => batches.push(b),
      (e) => expect(e).toBeUndefined(),
    );
    await feed.start();
    await feed.poke();
    await feed.stop();
    expect(batches.map((b) => [b.from, b.to, b.changes.map((c) => c.position)])).toEqual([
      [0, 2, [1, 2]],
      [2, 4, [3, 4]],
      [4, 5, [5]],
    ]);
    expect(feed.current).toBe(5);
  });

  test('when compaction passed it, it jumps to the horizon, reports it once, and goes on', async () => {
    const batches: FeedBatch[] = [];
    const resyncs: number[] = [];
    const feed = new ChangeFeed(
      fakeStorage({ head: 12, horizon: 10 }),
      (b) => batches.push(b),
      (e) => expect(e).toBeUndefined(),
      (h) => resyncs.push(h),
    );
    await feed.start();
    await feed.poke();
    await feed.stop();
    expect(resyncs).toEqual([10]);
    expect(batches.map((b) => [b.from, b.to])).toEqual([[10, 12]]);
  });

  test('with nobody listening it moves to the head without reading changes; once someone listens it reads again', async () => {
    let reads = 0;
    let head = 7;
    const base = fakeStorage({ head: 100, horizon: 0 });
    const storage = {
      ...base,
      currentPosition: async () => head,
      getChanges: async (req: { since: number; limit: number }) => {
        reads++;
        return base.getChanges(req);
      },
    } as unknown as Storage;
    let listening = false;
    const batches: FeedBatch[] = [];
    const feed = new ChangeFeed(
      storage,
      (b) => batches.push(b),
      (e) => expect(e).toBeUndefined(),
      undefined,
      () => listening,
    );
    await feed.start();
    head = 9;
    await feed.poke();
    expect(reads).toBe(0);
    expect(feed.current).toBe(9);
    expect(batches.map((b) => [b.from, b.to, b.changes.length])).toEqual([[7, 9, 0]]);
    listening = true;
    await feed.poke();
    await feed.stop();
    expect(reads).toBeGreaterThan(0);
    expect(batches[1]?.from).toBe(9);
    expect(batches[1]?.changes[0]?.position).toBe(10);
  });
});

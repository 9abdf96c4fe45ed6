import type { Filter } from '@syncline/protocol';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { changeFor, groupId, SubscriptionIndex } from '../src/engine/subscription-index.js';
import { testChange } from './harness.js';

const change = (collection: string, docId: string, data: Record<string, unknown> | null) =>
  testChange({ collection, docId, data, type: data === null ? 'delete' : 'update' });

describe('SubscriptionIndex', () => {
  test('equal filters share a group whatever their key order; leaving the last member removes it', () => {
    const index = new SubscriptionIndex();
    const a = index.join('todos', { owner: 'ann', done: false }, 0);
    const b = index.join('todos', { done: false, owner: 'ann' }, 0);
    expect(a).toBe(b);
    expect(a.id).toBe(groupId('todos', { owner: 'ann', done: false }));
    expect(a.members).toBe(2);
    index.leave(a);
    expect(index.size).toBe(1);
    index.leave(b);
    expect(index.size).toBe(0);
    expect([...index.candidates(change('todos', 'x', { owner: 'ann', done: false }))]).toEqual([]);
  });

  test('a change is checked only against the groups indexed under its values, not every subscriber', () => {
    const index = new SubscriptionIndex();
    for (let i = 0; i < 10_000; i++) index.join('notes', { owner: `user${i}` }, 0);
    index.join('notes', { size: { $gt: 3 } }, 0);
    index.join('other', {}, 0);
    const candidates = [...index.candidates(change('notes', 'n1', { owner: 'user42', size: 5 }))];
    expect(candidates.map((g) => g.filter)).toEqual([{ size: { $gt: 3 } }, { owner: 'user42' }]);
    expect([...index.match(change('notes', 'n1', { owner: 'user42', size: 1 }))].map(([g]) => g.filter)).toEqual([{ owner: 'user42' }]);
    // A delete whose old row is unknown: every group of the collection (none holds a read rule) gets it.
    expect([...index.match(change('notes', 'n1', null))]).toHaveLength(10_001);
    // With its old row, only the groups that held the document.
    const del = { ...change('notes', 'n1', null), old: { owner: 'user7', size: 1 } };
    expect([...index.match(del)].map(([g]) => g.filter)).toEqual([{ owner: 'user7' }]);
  });

  test('indexed matching equals checking every group (property)', () => {
    const value = fc.oneof(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 3 }), fc.boolean());
    const filter: fc.Arbitrary<Filter> = fc.oneof(
      fc.record({ f: value }),
      fc.record({ f: value, g: value }),
      fc.record({ f: fc.record({ $eq: value }) }),
      fc.record({ g: fc.record({ $gt: fc.integer({ min: 0, max: 3 }) }) }),
      fc.record({ $or: fc.array(fc.record({ f: value }), { minLength: 1, maxLength: 2 }) }),
      fc.constant({}),
    );
    const data = fc.oneof(fc.constant(null), fc.record({ f: value, g: value }, { requiredKeys: [] }));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('x', 'y'), filter), { maxLength: 12 }),
        fc.array(fc.tuple(fc.constantFrom('x', 'y'), data), { maxLength: 10 }),
        (subs, changes) => {
          const index = new SubscriptionIndex();
          for (const [collection, f] of subs) index.join(collection, f, 0);
          const groups = new Map(subs.map(([collection, f]) => [groupId(collection, f), { collection, f }]));
          for (const [collection, d] of changes) {
            const c = change(collection, 'doc', d);
            const got = [...index.match(c)].map(([g]) => g.id).sort();
            const want = [...groups]
              .filter(([, g]) => changeFor(g.collection, g.f, false, c) !== null)
              .map(([id]) => id)
              .sort();
            expect(got).toEqual(want);
          }
        },
      ),
    );
  });
});

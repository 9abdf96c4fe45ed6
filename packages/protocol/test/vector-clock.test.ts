import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compareClocks, incrementClock, mergeClocks } from '../src/vector-clock.js';

describe('vector clocks', () => {
  test.each([
    [{ a: 1 }, { a: 2 }, 'before'],
    [{ a: 2 }, { a: 1 }, 'after'],
    [{ a: 1 }, { a: 1 }, 'equal'],
    [{}, {}, 'equal'],
    [{ a: 0 }, {}, 'equal'],
    [{ a: 1, b: 0 }, { b: 1 }, 'concurrent'],
    [{ a: 1 }, { a: 1, b: 1 }, 'before'],
    [{ 'client-1': 1, 'client-2': 0 }, { 'client-1': 1, 'client-2': 3 }, 'before'],
  ] as const)('compare(%j, %j) = %s', (a, b, expected) => {
    expect(compareClocks(a, b)).toBe(expected);
  });

  const clock = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.nat(5));

  test('merge dominates both inputs; compare is antisymmetric', () => {
    fc.assert(
      fc.property(clock, clock, (a, b) => {
        const m = mergeClocks(a, b);
        expect(['after', 'equal']).toContain(compareClocks(m, a));
        expect(['after', 'equal']).toContain(compareClocks(m, b));
        const flip = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' } as const;
        expect(compareClocks(b, a)).toBe(flip[compareClocks(a, b)]);
      }),
    );
  });

  test('increment always moves strictly after, and __proto__ stays a plain key', () => {
    fc.assert(
      fc.property(clock, fc.constantFrom('a', 'z'), (a, node) => {
        expect(compareClocks(incrementClock(a, node), a)).toBe('after');
      }),
    );
    const c = incrementClock({}, '__proto__');
    expect(Object.keys(c)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).a).toBeUndefined();
  });
});

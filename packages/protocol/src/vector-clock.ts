/**
 * Vector clocks: `{nodeId: counter}`; a missing entry counts as 0.
 * compare(a, b) tells how operation clock `a` relates to server clock `b`:
 *  - 'before'     a happened before b (a ≤ b everywhere, < somewhere): stale
 *  - 'after'      a happened after b: accepted
 *  - 'equal'      same history: accepted
 *  - 'concurrent' neither dominates: a real conflict
 */
export type VectorClock = Record<string, number>;
export type ClockOrder = 'before' | 'after' | 'equal' | 'concurrent';

export function compareClocks(a: VectorClock, b: VectorClock): ClockOrder {
  let less = false;
  let greater = false;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[key] ?? 0;
    const y = b[key] ?? 0;
    if (x < y) less = true;
    else if (x > y) greater = true;
    if (less && greater) return 'concurrent';
  }
  if (less) return 'before';
  if (greater) return 'after';
  return 'equal';
}

/** Pointwise maximum. Built on a null-prototype object so node ids like `__proto__` stay plain keys. */
export function mergeClocks(a: VectorClock, b: VectorClock): VectorClock {
  const out: VectorClock = Object.create(null);
  for (const [k, v] of Object.entries(a)) out[k] = v;
  for (const [k, v] of Object.entries(b)) out[k] = Math.max(out[k] ?? 0, v);
  return { ...out };
}

export function incrementClock(clock: VectorClock, node: string): VectorClock {
  const out = mergeClocks(clock, {});
  Object.defineProperty(out, node, { value: (clock[node] ?? 0) + 1, enumerable: true, writable: true, configurable: true });
  return out;
}

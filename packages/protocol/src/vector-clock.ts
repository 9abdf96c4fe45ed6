/**
 * Vector clocks: `{nodeId: counter}`; a missing entry counts as 0.
 * compare(a, b) tells how operation clock `a` relates to server clock `b`:
 *  - 'before'     a happened before b (a ≤ b everywhere, < somewhere): stale
 *  - 'after'      a happened after b: accepted
 *  - 'equal'      same history: accepted
 *  - 'concurrent' neither dominates: a real conflict
 * These run for every operation of every push, so they avoid allocation.
 */
export type VectorClock = Record<string, number>;
export type ClockOrder = 'before' | 'after' | 'equal' | 'concurrent';

const own = (o: object, k: string) => Object.hasOwn(o, k);

export function compareClocks(a: VectorClock, b: VectorClock): ClockOrder {
  let less = false;
  let greater = false;
  for (const k of Object.keys(a)) {
    const x = a[k] ?? 0;
    const y = own(b, k) ? (b[k] ?? 0) : 0;
    if (x < y) less = true;
    else if (x > y) greater = true;
  }
  for (const k of Object.keys(b)) {
    if (!own(a, k) && (b[k] ?? 0) > 0) less = true;
  }
  if (less && greater) return 'concurrent';
  if (less) return 'before';
  if (greater) return 'after';
  return 'equal';
}

/** Sets an entry; a node id like `__proto__` stays a plain key (never the prototype setter). */
function set(clock: VectorClock, k: string, v: number): void {
  if (k === '__proto__') Object.defineProperty(clock, k, { value: v, enumerable: true, writable: true, configurable: true });
  else clock[k] = v;
}

/** Pointwise maximum. */
export function mergeClocks(a: VectorClock, b: VectorClock): VectorClock {
  const out: VectorClock = {};
  for (const k of Object.keys(a)) set(out, k, a[k] ?? 0);
  for (const k of Object.keys(b)) {
    const v = b[k] ?? 0;
    if (!own(out, k) || v > (out[k] ?? 0)) set(out, k, v);
  }
  return out;
}

export function incrementClock(clock: VectorClock, node: string): VectorClock {
  const out = mergeClocks(clock, {});
  set(out, node, (own(clock, node) ? (clock[node] ?? 0) : 0) + 1);
  return out;
}

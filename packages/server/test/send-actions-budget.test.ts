/** The `/sendActions` budgets of open write actions (send-actions-budget.ts), without a server. */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ActionBudget } from '../src/transport/send-actions-budget.js';

const limits = { maxOpenActions: 64, maxOpenActionsPerUser: 16, maxOpenActionsPerSocket: 16 };

/** Takes for `key` until refused (`socketHeld` counted per socket of `perSocket` actions); returns how many were taken. */
function fill(b: ActionBudget, key: string, perSocket = limits.maxOpenActionsPerSocket, sockets = 10): number {
  let taken = 0;
  for (let s = 0; s < sockets; s++) {
    for (let held = 0; held < perSocket; held++) {
      if (b.take(key, held)) return taken;
      taken++;
    }
  }
  return taken;
}

describe('/sendActions budgets', () => {
  test('per socket, per user and per server, with the defaults', () => {
    const b = new ActionBudget(limits);
    expect(b.take('u:a', 16)).toMatchObject({
      code: 'TOO_MANY_OPEN_ACTIONS',
      message: expect.stringContaining('16 write actions per socket'),
    });

    // Alone, on several sockets: half the pool (one share kept for a user to come).
    expect(fill(b, 'u:a')).toBe(32);
    expect(b.take('u:a', 0)?.message).toContain('while 1 user holds actions');
    // A second user: its own cap (more would leave less than one cap free).
    expect(fill(b, 'u:b')).toBe(16);
    expect(b.take('u:b', 0)?.message).toContain('16 write actions per user');
    // A third fills the pool; a fourth, holding nothing, is refused only because it is full.
    expect(fill(b, 'u:c')).toBe(16);
    expect(b.open).toBe(64);
    expect(b.take('u:d', 0)?.message).toContain('64 write actions may await their FIN on this server');

    // Room freed by the users above their share goes to the others: a gets none back until it is under its share.
    for (let i = 0; i < 10; i++) b.release('u:a');
    expect(b.heldBy('u:a')).toBe(22);
    expect(b.take('u:a', 0)).toMatchObject({ code: 'TOO_MANY_OPEN_ACTIONS' });
    expect(fill(b, 'u:d')).toBe(10);
    expect(b.users).toBe(4);

    // Everything released: nothing is left behind (keys of users holding nothing are dropped).
    for (const [key, n] of [
      ['u:a', 22],
      ['u:b', 16],
      ['u:c', 16],
      ['u:d', 10],
    ] as const) {
      for (let i = 0; i < n; i++) b.release(key);
    }
    expect([b.open, b.users]).toEqual([0, 0]);
    b.release('u:a');
    expect(b.open).toBe(0);
    expect(fill(b, 'u:a')).toBe(32);
  });

  test('many users: each gets at most its share of what n + 1 users would get', () => {
    const b = new ActionBudget({ maxOpenActions: 10, maxOpenActionsPerUser: 16, maxOpenActionsPerSocket: 16 });
    const got = Array.from({ length: 12 }, (_, i) => fill(b, `c:${i}`));
    expect(got).toEqual([5, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(b.open).toBe(10);
  });

  test('property: the pool is never exceeded; a user holding nothing is refused only when it is full; above its cap a user leaves a cap free', () => {
    const step = fc.record({ user: fc.integer({ min: 0, max: 5 }), take: fc.boolean(), socketHeld: fc.integer({ min: 0, max: 6 }) });
    const config = fc.record({
      maxOpenActions: fc.integer({ min: 1, max: 40 }),
      maxOpenActionsPerUser: fc.integer({ min: 1, max: 20 }),
      maxOpenActionsPerSocket: fc.integer({ min: 1, max: 8 }),
    });
    fc.assert(
      fc.property(config, fc.array(step, { maxLength: 300 }), (cfg, steps) => {
        const b = new ActionBudget(cfg);
        const held = new Map<string, number>();
        for (const { user, take, socketHeld } of steps) {
          const key = `u:${user}`;
          const mine = held.get(key) ?? 0;
          if (!take) {
            if (mine > 0) held.set(key, mine - 1);
            b.release(key);
          } else if (!b.take(key, socketHeld)) {
            held.set(key, mine + 1);
            const free = cfg.maxOpenActions - b.open;
            if (mine + 1 > cfg.maxOpenActionsPerUser) expect(free).toBeGreaterThanOrEqual(cfg.maxOpenActionsPerUser);
          } else if (mine === 0 && socketHeld < cfg.maxOpenActionsPerSocket) {
            expect(b.open).toBe(cfg.maxOpenActions);
          }
          const total = [...held.values()].reduce((x, y) => x + y, 0);
          expect(b.open).toBe(total);
          expect(b.open).toBeLessThanOrEqual(cfg.maxOpenActions);
          expect(b.users).toBe([...held.values()].filter((v) => v > 0).length);
        }
      }),
    );
  });
});

/**
 * How many `/sendActions` write actions may be open (starting or ACKed, awaiting
 * their FIN) on this instance, and who may open one more (invariant 6: one
 * client can never starve others by holding actions open).
 *
 * Checked in this one place for every write action, with n = the users holding
 * open actions, counting the asking one:
 * - per socket: `maxOpenActionsPerSocket`;
 * - per user (`u:<userId>`; anonymous callers by client id, which is the socket's
 *   id when none is given), all its sockets together: less than its share
 *   `⌊maxOpenActions / (n + 1)⌋` (at least 1) — the `+ 1` keeps a share free for a
 *   user who holds nothing yet; and above `maxOpenActionsPerUser` only while at
 *   least `maxOpenActionsPerUser` slots stay free after it. So a user alone may
 *   use up to half the pool, and a user holding nothing is refused only when
 *   the pool is full;
 * - the instance's pool: `maxOpenActions` (the held runner's connections);
 * - the bytes of action data all open actions hold: `maxOpenActionBytes` (staged
 *   actions keep their data in memory until FIN).
 * Open actions are never taken away: a user above its share (taken while fewer
 * users held actions) gets no more until its FINs, rollbacks or timeouts bring
 * it back under, and the room they free goes to the others.
 */
import { type ErrorRef, errorRef } from '@syncline/protocol';
import type { Config } from '../config/options.js';

export type BudgetLimits = Pick<Config, 'maxOpenActions' | 'maxOpenActionsPerUser' | 'maxOpenActionsPerSocket'> &
  Partial<Pick<Config, 'maxOpenActionBytes'>>;

export class ActionBudget {
  /** Open write actions per user key; only keys holding at least one (bounded by maxOpenActions). */
  private readonly held = new Map<string, number>();
  private total = 0;
  private totalBytes = 0;

  constructor(private readonly limits: BudgetLimits) {}

  /** Write actions open on this instance. */
  get open(): number {
    return this.total;
  }

  /** Users holding at least one open write action. */
  get users(): number {
    return this.held.size;
  }

  /** Open write actions of one user. */
  heldBy(key: string): number {
    return this.held.get(key) ?? 0;
  }

  /**
   * Counts one more open write action of user `key`, whose socket holds `socketHeld`
   * already; or, when a bound is reached, says why (nothing counted).
   */
  take(key: string, socketHeld: number, bytes = 0): ErrorRef | undefined {
    const { maxOpenActions: pool, maxOpenActionsPerUser: perUser, maxOpenActionsPerSocket: perSocket } = this.limits;
    const maxBytes = this.limits.maxOpenActionBytes ?? Number.POSITIVE_INFINITY;
    if (socketHeld >= perSocket) return tooMany(`At most ${perSocket} write actions per socket may await their FIN`);
    if (this.total >= pool) return tooMany(`At most ${pool} write actions may await their FIN on this server, all users together`);
    if (this.totalBytes + bytes > maxBytes) {
      return tooMany(`Write actions awaiting their FIN may hold at most ${maxBytes} bytes of data on this server, all users together`);
    }
    const mine = this.heldBy(key);
    const users = this.held.size + (mine === 0 ? 1 : 0);
    const share = Math.max(1, Math.floor(pool / (users + 1)));
    if (mine >= share) {
      const who = users === 1 ? '1 user holds' : `${users} users hold`;
      return tooMany(
        `At most ${share} write actions per user may await their FIN while ${who} actions on this server (a share stays free for others)`,
      );
    }
    if (mine >= perUser && pool - this.total - 1 < perUser) {
      return tooMany(`At most ${perUser} write actions per user may await their FIN while this server is busy`);
    }
    this.held.set(key, mine + 1);
    this.total++;
    this.totalBytes += bytes;
    return undefined;
  }

  /** Ends one open write action of `key` holding `bytes` (counted by `take`). */
  release(key: string, bytes = 0): void {
    const mine = this.held.get(key);
    if (mine === undefined) return;
    if (mine <= 1) this.held.delete(key);
    else this.held.set(key, mine - 1);
    this.total--;
    this.totalBytes -= bytes;
  }
}

const tooMany = (what: string): ErrorRef => errorRef('TOO_MANY_OPEN_ACTIONS', `${what}; send clientFin for earlier ones first.`);

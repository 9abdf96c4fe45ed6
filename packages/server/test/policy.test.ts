/** Rules → per-caller filters, evaluated in memory (the same filters compile to SQL). */

import { matchFilter } from '@syncline/protocol';
import { describe, expect, test } from 'vitest';
import type { Identity } from '../src/auth/authenticate.js';
import { mergeRules, Policy, type Rule, RulesSchema, ruleFilter } from '../src/auth/policy.js';

const user = (userId: string | null, claims: Record<string, unknown> = {}): Identity => ({ userId, claims, method: 'jwt-secret' });
const doc = (fields: Record<string, unknown>) => ({ _id: 'd', _rev: 1, ...fields });
const reads = (rule: Rule, who: Identity, fields: Record<string, unknown>) => matchFilter(ruleFilter(rule, who), doc(fields));

describe('rules', () => {
  test('owner field: equal ids as strings or numbers; anonymous reaches nothing', () => {
    expect(reads({ field: 'ownerId' }, user('7'), { ownerId: 7 })).toBe(true);
    expect(reads({ field: 'ownerId' }, user('7'), { ownerId: '7' })).toBe(true);
    expect(reads({ field: 'ownerId' }, user('7'), { ownerId: 8 })).toBe(false);
    expect(reads({ field: 'ownerId' }, user('7'), {})).toBe(false);
    expect(reads({ field: 'ownerId' }, user(null), { ownerId: null })).toBe(false);
    expect(reads({ field: 'a.b' }, user('x'), { a: { b: 'x' } })).toBe(true);
  });

  test('several fields, claim lists, claim conditions, combinations, "*" and false', () => {
    expect(reads({ fields: ['a', 'b'] }, user('u'), { b: 'u' })).toBe(true);
    expect(reads({ fields: ['a', 'b'] }, user('u'), { c: 'u' })).toBe(false);
    expect(reads({ field: 'team', inClaim: 'teams' }, user('u', { teams: ['t1', 2] }), { team: 2 })).toBe(true);
    expect(reads({ field: 'team', inClaim: 'teams' }, user('u', { teams: ['t1'] }), { team: 't2' })).toBe(false);
    expect(reads({ field: 'team', inClaim: 'teams' }, user('u'), { team: 't1' })).toBe(false);
    expect(reads({ claim: 'role', in: ['admin'] }, user('u', { role: 'admin' }), {})).toBe(true);
    expect(reads({ claim: 'role', in: ['admin'] }, user('u', { role: ['viewer', 'admin'] }), {})).toBe(true);
    expect(reads({ claim: 'role', in: ['admin'] }, user('u', { role: 'viewer' }), {})).toBe(false);
    expect(reads({ claim: 'admin', equals: true }, user('u', { admin: true }), {})).toBe(true);
    expect(reads({ anyOf: [{ field: 'o' }, { claim: 'admin', equals: true }] }, user('u'), { o: 'u' })).toBe(true);
    expect(reads({ allOf: [{ field: 'o' }, { claim: 'admin', equals: true }] }, user('u'), { o: 'u' })).toBe(false);
    expect(reads('*', user(null), {})).toBe(true);
    expect(reads(false, user('u', { admin: true }), {})).toBe(false);
  });

  test('deny by default; open mode allows everything', () => {
    const p = new Policy({ notes: { read: { field: 'owner' } } }, false);
    expect(p.canRead('notes', user('u'), doc({ owner: 'u' }))).toBe(true);
    expect(p.canRead('other', user('u'), doc({ owner: 'u' }))).toBe(false);
    expect(p.canWrite('notes', user('u'), 'insert', null, doc({ owner: 'u' }))).toBe(false);
    const open = new Policy({}, true);
    expect(open.canRead('other', user(null), doc({}))).toBe(true);
    expect(open.canWrite('other', user(null), 'delete', doc({}), null)).toBe(true);
  });

  test('writes: insert checks the new row, delete the old one, update both (no moving rows out of reach)', () => {
    const p = new Policy({ notes: { read: '*', write: { field: 'owner' } }, logs: { read: '*', write: { insert: '*' } } }, false);
    const u = user('u');
    expect(p.canWrite('notes', u, 'insert', null, doc({ owner: 'u' }))).toBe(true);
    expect(p.canWrite('notes', u, 'insert', null, doc({ owner: 'v' }))).toBe(false);
    expect(p.canWrite('notes', u, 'update', doc({ owner: 'u' }), doc({ owner: 'u', x: 1 }))).toBe(true);
    expect(p.canWrite('notes', u, 'update', doc({ owner: 'u' }), doc({ owner: 'v' }))).toBe(false);
    expect(p.canWrite('notes', u, 'update', doc({ owner: 'v' }), doc({ owner: 'u' }))).toBe(false);
    expect(p.canWrite('notes', u, 'delete', doc({ owner: 'v' }), null)).toBe(false);
    expect(p.canWrite('logs', u, 'insert', null, doc({}))).toBe(true);
    expect(p.canWrite('logs', u, 'update', doc({}), doc({}))).toBe(false);
  });

  test('rules are validated with paths to the problem; esink routing fills missing read rules', () => {
    const bad = RulesSchema.safeParse({ notes: { read: { field: 'a', nope: 1 } }, 'bad name!': {} });
    expect(bad.success).toBe(false);
    expect(RulesSchema.safeParse({ n: { read: { claim: 'r' } } }).success).toBe(false);
    // Only top-level fields can be hidden: a dotted path is refused rather than silently not hidden.
    const dotted = RulesSchema.safeParse({ n: { read: '*', hidden: ['meta.secret'] } });
    expect(dotted.success).toBe(false);
    expect(dotted.error?.issues[0]?.message).toContain('top-level field');
    const merged = mergeRules({ notes: { read: '*', hidden: ['secret'] } }, { notes: ['owner'], users: ['id'], all: '*' });
    expect(merged).toEqual({ notes: { read: '*', hidden: ['secret'] }, users: { read: { fields: ['id'] } }, all: { read: '*' } });
  });
});

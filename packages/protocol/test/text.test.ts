import { describe, expect, test } from 'vitest';
import { ChangesRequestSchema } from '../src/changes.js';
import { QueryRequestSchema } from '../src/documents.js';
import { DocumentIdSchema } from '../src/names-schema.js';
import { OperationSchema, PushRequestSchema } from '../src/operations.js';
import { findUnstorableText, isStorableText, issueCode, MAX_TEXT_DEPTH } from '../src/text.js';

describe('text the databases can store', () => {
  test.each([
    ['plain', 'abc', true],
    ['empty', '', true],
    ['astral (a surrogate pair)', 'a😀b', true],
    ['BMP edge characters', '\uD7FF\uE000\uFFFE\uFFFF', true],
    ['NUL', 'a\u0000b', false],
    ['lone high surrogate', 'a\uD800b', false],
    ['lone low surrogate', 'a\uDC00b', false],
    ['high surrogate at the end', 'a\uD83D', false],
    ['pair reversed', '\uDE00\uD83D', false],
  ])('%s', (_name, s, ok) => {
    expect(isStorableText(s)).toBe(ok);
  });

  test('findUnstorableText names the bad string, or the object holding a bad key', () => {
    expect(findUnstorableText({ a: [1, { b: 'x\u0000' }] })?.path).toEqual(['a', 1, 'b']);
    expect(findUnstorableText({ a: { '\uD800': 1 } })?.path).toEqual(['a']);
    expect(findUnstorableText({ a: ['ok', 2, null, true, { '😀': '😀' }] })).toBeUndefined();
  });

  test('findUnstorableText stops at MAX_TEXT_DEPTH (deeper data is refused by the depth check) without recursing further', () => {
    let deep: unknown = 'x\u0000';
    for (let i = 0; i < MAX_TEXT_DEPTH + 5; i++) deep = [deep];
    expect(findUnstorableText(deep)).toBeUndefined();
    let shallow: unknown = 'x\u0000';
    for (let i = 0; i < MAX_TEXT_DEPTH - 1; i++) shallow = [shallow];
    expect(findUnstorableText(shallow)?.path).toHaveLength(MAX_TEXT_DEPTH - 1);
  });

  test('every string field of the wire schemas refuses it with an INVALID_TEXT issue at its path', () => {
    const op = { id: 'o1', type: 'insert', collection: 'c', docId: 'd', data: { n: 1 } };
    const cases: [{ safeParse(v: unknown): { success: boolean; error?: { issues: unknown[] } } }, unknown, (string | number)[]][] = [
      [OperationSchema, { ...op, id: 'o\u0000' }, ['id']],
      [OperationSchema, { ...op, docId: 'd\uD800' }, ['docId']],
      [OperationSchema, { ...op, clientId: '\uDC00' }, ['clientId']],
      [OperationSchema, { ...op, data: { a: { b: ['\u0000'] } } }, ['data', 'a', 'b', 0]],
      [OperationSchema, { ...op, vectorClock: { 'n\u0000': 1 } }, ['vectorClock']],
      [PushRequestSchema, { clientId: 'c\u0000', operations: [] }, ['clientId']],
      [ChangesRequestSchema, { since: 0, clientId: 'c\uD800' }, ['clientId']],
      [QueryRequestSchema, { cursor: '\u0000' }, ['cursor']],
      [DocumentIdSchema, '\u0000', []],
    ];
    for (const [schema, value, path] of cases) {
      const r = schema.safeParse(value);
      expect(r.success, JSON.stringify(value)).toBe(false);
      const issue = r.error?.issues[0] as Parameters<typeof issueCode>[0];
      expect(issueCode(issue), JSON.stringify(value)).toBe('INVALID_TEXT');
      expect(issue?.path).toEqual(path);
    }
  });

  test('other refusals keep their own codes', () => {
    const r = DocumentIdSchema.safeParse('');
    expect(r.success).toBe(false);
    expect(issueCode(r.error?.issues[0])).toBeUndefined();
  });
});

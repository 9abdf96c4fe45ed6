/**
 * Text the databases can store. PostgreSQL refuses U+0000 in text and jsonb, and
 * a UTF-16 surrogate that is not half of a pair is not Unicode at all (no UTF-8
 * for it: MySQL drivers silently turn it into U+FFFD). Such strings are refused
 * at the protocol's schemas with INVALID_TEXT (400) instead of failing the whole
 * SQL statement (a 500 that also took the valid operations of the batch down).
 */
import type { z } from 'zod';
import type { ErrorCode } from './errors.js';

/** With the `u` flag a well-formed pair is one code point, so `\p{Cs}` matches only lone surrogates. */
const LONE_SURROGATE = /\p{Cs}/u;

export const INVALID_TEXT_MESSAGE = 'strings may not contain U+0000 (NUL) or unpaired UTF-16 surrogates';
const KEY_MESSAGE = 'keys may not contain U+0000 (NUL) or unpaired UTF-16 surrogates';

export function isStorableText(s: string): boolean {
  return !s.includes('\u0000') && !LONE_SURROGATE.test(s);
}

/** How deep `findUnstorableText` looks; deeper values are refused by the depth check (MAX_DEPTH) anyway. */
export const MAX_TEXT_DEPTH = 64;

/** Marks a zod issue as INVALID_TEXT, so that every transport maps it to that code (see `issueCode`). */
const params = { code: 'INVALID_TEXT' satisfies ErrorCode };

/** A string the databases can store (refinements after min/max, so a too-long string still says so first). */
export const storableText = <T extends z.ZodString>(schema: T) => schema.refine(isStorableText, { message: INVALID_TEXT_MESSAGE, params });

export interface TextIssue {
  /** Path of the bad string, or of the object holding the bad key. */
  path: (string | number)[];
  message: string;
}

/** The first key or string in a JSON value the databases cannot store; stops descending past MAX_TEXT_DEPTH. */
export function findUnstorableText(value: unknown): TextIssue | undefined {
  // One path stack, copied only on a hit: this runs over every operation's data.
  const path: (string | number)[] = [];
  const walk = (v: unknown, depth: number): TextIssue | undefined => {
    if (typeof v === 'string') return isStorableText(v) ? undefined : { path: [...path], message: INVALID_TEXT_MESSAGE };
    if (depth >= MAX_TEXT_DEPTH || typeof v !== 'object' || v === null) return undefined;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        const hit = walk(v[i], depth + 1);
        path.pop();
        if (hit) return hit;
      }
      return undefined;
    }
    for (const key of Object.keys(v)) {
      // The key itself would make an unreadable path (a NUL in an error message), so the path names its object.
      if (!isStorableText(key)) return { path: [...path], message: KEY_MESSAGE };
      path.push(key);
      const hit = walk((v as Record<string, unknown>)[key], depth + 1);
      path.pop();
      if (hit) return hit;
    }
    return undefined;
  };
  return walk(value, 0);
}

/** Refinement for JSON values inside schemas: one INVALID_TEXT issue at the bad string's path. */
export function refineStorableText(value: unknown, ctx: z.RefinementCtx): void {
  const hit = findUnstorableText(value);
  if (hit) ctx.addIssue({ code: 'custom', message: hit.message, path: hit.path, params });
}

/** The registry code a zod issue stands for when a schema says so (INVALID_TEXT), else undefined. */
export function issueCode(issue: z.core.$ZodIssue | undefined): ErrorCode | undefined {
  return issue?.code === 'custom' && issue.params?.code === 'INVALID_TEXT' ? 'INVALID_TEXT' : undefined;
}

import { errorRef, issueCode, type Operation, type OperationResult, OperationSchema } from '@syncline/protocol';

const FORBIDDEN_KEYS = new Set(['__proto__']);
export const MAX_DEPTH = 64;

class TooDeep extends Error {
  constructor(readonly path: string) {
    super(path);
  }
}

/**
 * First `__proto__` key anywhere in a JSON value, as a path; such keys are
 * refused rather than stored. Throws TooDeep past MAX_DEPTH levels.
 */
export function findForbiddenKey(value: unknown, path: string, depth = 0): string | undefined {
  if (depth > MAX_DEPTH) throw new TooDeep(path);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findForbiddenKey(value[i], `${path}[${i}]`, depth + 1);
      if (hit) return hit;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) return `${path}.${key}`;
      const hit = findForbiddenKey((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1);
      if (hit) return hit;
    }
  }
  return undefined;
}

export type Validated = { ok: true; op: Operation & { docId: string } } | { ok: false; result: OperationResult };

/**
 * Checks one operation of a batch on its own, so a bad one is rejected alone.
 * Fills in a generated `docId` for inserts that have none.
 */
export function validateOperation(raw: unknown, index: number, newId: () => string): Validated {
  const at = `operations[${index}]`;
  const rawId = (raw as { id?: unknown } | null)?.id;
  const id = typeof rawId === 'string' ? rawId : '';
  const parsed = OperationSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? []).reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : `${s}.${String(p)}`), at);
    // Text the database cannot store (any field, any depth of data) is INVALID_TEXT wherever it is.
    const code =
      issueCode(issue) ??
      (issue?.path[0] === 'collection' ? 'INVALID_COLLECTION' : issue?.path[0] === 'docId' ? 'INVALID_DOCUMENT_ID' : 'VALIDATION_FAILED');
    return { ok: false, result: { id, status: 'rejected', error: errorRef(code, `${path}: ${issue?.message ?? 'invalid'}`, path) } };
  }
  const op = parsed.data;
  let bad: string | undefined;
  try {
    bad = findForbiddenKey(op.data, `${at}.data`) ?? findForbiddenKey(op.vectorClock, `${at}.vectorClock`);
  } catch (err) {
    if (!(err instanceof TooDeep)) throw err;
    const message = `${at}.data: nested deeper than ${MAX_DEPTH} levels`;
    return { ok: false, result: { id, status: 'rejected', error: errorRef('VALIDATION_FAILED', message, `${at}.data`) } };
  }
  if (bad) {
    return {
      ok: false,
      result: { id, status: 'rejected', error: errorRef('FORBIDDEN_KEY', `${bad}: __proto__ keys are not allowed`, bad) },
    };
  }
  return { ok: true, op: { ...op, docId: op.docId ?? newId() } };
}

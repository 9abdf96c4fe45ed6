import { describe, expect, test } from 'vitest';
import { DEFAULT_SERVER_LIMITS, parseServerLimits } from '../src/limits.js';
import { ServerLimitsSchema } from '../src/limits-schema.js';

describe('parseServerLimits (the client reads announcements without zod)', () => {
  test('takes the three limits and drops anything else', () => {
    expect(parseServerLimits({ ...DEFAULT_SERVER_LIMITS, extra: 1 })).toEqual(DEFAULT_SERVER_LIMITS);
  });

  test.each<[string, unknown]>([
    ['undefined', undefined],
    ['null', null],
    ['a number', 5],
    ['a missing limit', { bodyLimit: 10, socketMaxMessageBytes: 10 }],
    ['zero', { bodyLimit: 0, socketMaxMessageBytes: 10, maxOperations: 1 }],
    ['a fraction', { bodyLimit: 1.5, socketMaxMessageBytes: 10, maxOperations: 1 }],
    ['a string', { bodyLimit: '10', socketMaxMessageBytes: 10, maxOperations: 1 }],
    ['above MAX_SAFE_INTEGER', { bodyLimit: 2 ** 53, socketMaxMessageBytes: 10, maxOperations: 1 }],
    ['infinity', { bodyLimit: 10, socketMaxMessageBytes: Number.POSITIVE_INFINITY, maxOperations: 1 }],
  ])('refuses %s, as ServerLimitsSchema does', (_, value) => {
    expect(parseServerLimits(value)).toBeUndefined();
    expect(ServerLimitsSchema.safeParse(value).success).toBe(false);
  });
});

/** The market page's name search: one shared collator, a word of the name begins with the search. */
import { describe, expect, test } from 'vitest';
import { nameMatches } from '../src/market/names.js';

describe('nameMatches', () => {
  test('a word start, case and accents ignored', () => {
    expect(nameMatches('Apples, eco #2', 'apples')).toBe(true);
    expect(nameMatches('Apples, eco #2', 'ECO')).toBe(true);
    expect(nameMatches('Apples, eco #2', 'apples, e')).toBe(true);
    expect(nameMatches('Crème fraîche', 'creme')).toBe(true);
    expect(nameMatches('Crème fraîche', 'fraiche')).toBe(true);
    expect(nameMatches('USB-C cable', 'c cable')).toBe(true);
  });

  test('not inside a word; an empty search matches everything', () => {
    expect(nameMatches('Pineapple', 'apple')).toBe(false);
    expect(nameMatches('Apples', 'bananas')).toBe(false);
    expect(nameMatches('Apples', '  ')).toBe(true);
  });
});

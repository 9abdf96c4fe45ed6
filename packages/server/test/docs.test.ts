/** README's tables must agree with the error registry and the option declarations. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCodes } from '@syncline/protocol';
import { describe, expect, test } from 'vitest';
import { regenerate } from '../../../scripts/readme-tables.js';
import { options } from '../src/config/options.js';

const readme = readFileSync(resolve(import.meta.dirname, '../../../README.md'), 'utf8');

describe('README', () => {
  test('starts with the two commands a new user runs', () => {
    const firstBlock = readme.split('```')[1] ?? '';
    expect(firstBlock).toContain('npm install && npm start');
    expect(firstBlock).toContain('npm test');
  });

  test('the configuration and error tables are the generated ones (npm run docs)', () => {
    expect(regenerate(readme)).toBe(readme);
  });

  test.each(Object.entries(ErrorCodes))('documents error %s with its status', (code, spec) => {
    expect(readme).toMatch(new RegExp(`^\\|\\s*\`${code}\`\\s*\\|\\s*${spec.status}\\s*\\|`, 'm'));
  });

  test('documents exactly the registered error codes', () => {
    const documented = [...readme.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*\d{3}\s*\|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ErrorCodes).sort());
  });

  test.each(Object.entries(options))('documents option %s with its environment variables', (_name, spec) => {
    for (const env of spec.env) expect(readme).toContain(`\`${env}\``);
  });
});

/** Configuration: environment, config file, defaults; esink-style values parse as esink documents them. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';

const dir = mkdtempSync(join(tmpdir(), 'syncline-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('loadConfig', () => {
  test('esink variables: TABLE_NAMES, FILTERS lists and TABLE_AUTH_COLUMN_ROUTING JSON (quoted as in its docker-compose)', () => {
    const c = loadConfig(
      {},
      {
        TABLE_NAMES: "'users, notes,pushNotifications'",
        FILTERS: 'users.password,users.reset_password_token',
        TABLE_AUTH_COLUMN_ROUTING: '{"users": "id", "pushNotifications": ["userID", "senderID"], "targetStatuses": "*"}',
        ALLOW_REPUBLISHING: 'true',
        DEFAULT_SOURCE: 'api',
      },
    );
    expect(c.tableNames).toEqual(['users', 'notes', 'pushNotifications']);
    expect(c.filters).toEqual(['users.password', 'users.reset_password_token']);
    expect(c.tableAuthColumnRouting).toEqual({ users: ['id'], pushNotifications: ['userID', 'senderID'], targetStatuses: '*' });
    expect(c.allowRepublishing).toBe(true);
    expect(c.defaultSource).toBe('api');
  });

  test('MYSQL_DATABASE selects the MySQL adapter with esink defaults', () => {
    const c = loadConfig({}, { MYSQL_DATABASE: 'app' });
    expect(c.adapter).toBe('mysql');
    expect([c.mysqlHost, c.mysqlPort, c.mysqlUsername, c.mysqlPollIntervalMs]).toEqual(['127.0.0.1', 3306, 'root', 250]);
  });

  test('a config file supplies options by name or variable; the environment overrides it', () => {
    const path = file('ok.json', { tableNames: ['a', 'b'], PORT: 4100, TABLE_AUTH_COLUMN_ROUTING: { a: 'owner' }, filters: ['a.secret'] });
    const c = loadConfig({}, { SYNCLINE_CONFIG: path, PORT: '4200' });
    expect(c.tableNames).toEqual(['a', 'b']);
    expect(c.tableAuthColumnRouting).toEqual({ a: ['owner'] });
    expect(c.filters).toEqual(['a.secret']);
    expect(c.port).toBe(4200);
  });

  test('bad values are all reported at once with where they came from', () => {
    const path = file('bad.json', { nope: 1, port: 'x' });
    let err: unknown;
    try {
      loadConfig({}, { SYNCLINE_CONFIG: path, TABLE_AUTH_COLUMN_ROUTING: '{not json', ALLOW_TEST_TOKEN: 'true', NODE_ENV: 'production' });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'INVALID_CONFIG' });
    const problems = (err as { details: { problems: string[] } }).details.problems.join('\n');
    expect(problems).toContain('unknown option nope');
    expect(problems).toContain(`${path}: port`);
    expect(problems).toContain('TABLE_AUTH_COLUMN_ROUTING');
    expect(problems).toContain('ALLOW_TEST_TOKEN cannot be used with NODE_ENV=production');
  });

  test('connection timeouts: defaults, and a headers timeout longer than the request timeout is refused', () => {
    const c = loadConfig({}, {});
    expect([c.headersTimeoutMs, c.requestTimeoutMs, c.keepAliveTimeoutMs, c.socketTimeoutMs]).toEqual([5000, 60_000, 72_000, 120_000]);
    expect(loadConfig({}, { SYNCLINE_HEADERS_TIMEOUT_MS: '9000', SYNCLINE_REQUEST_TIMEOUT_MS: '0' }).headersTimeoutMs).toBe(9000);
    expect(() => loadConfig({}, { SYNCLINE_HEADERS_TIMEOUT_MS: '9000', SYNCLINE_REQUEST_TIMEOUT_MS: '5000' })).toThrow(
      /SYNCLINE_HEADERS_TIMEOUT_MS must not exceed SYNCLINE_REQUEST_TIMEOUT_MS/,
    );
  });

  test('a named config file must exist; the default one is optional', () => {
    expect(() => loadConfig({}, { SYNCLINE_CONFIG: join(dir, 'missing.json') })).toThrow(/no such file/);
    expect(loadConfig({}, {}).port).toBe(3000);
  });
});

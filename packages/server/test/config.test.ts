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
  // esink's README writes the routing with comments, single quotes and trailing commas; its compose file
  // (list syntax) keeps the quotes around values. Both must read as esink's users mean them.
  const ESINK_ROUTING = `{
    // Mapping: "TABLE_NAME": "COLUMN_NAME",
    "users": "id",
    "games": "hostUserId",
    "pushNotifications": [
    	"userID",
        "senderID",
        "recipientID"
    ],
    // Will get sent to every single user currently subscribed to socket.io, regardless of id:
    "targetStatuses": '*',
    "usersXtargets": "userID",
}`;

  test("esink's docker-compose environment as written: quotes trimmed on every option, routing with comments (JSON5)", () => {
    const c = loadConfig(
      {},
      {
        NODE_ENV: 'production',
        PORT: '80',
        ALLOW_REPUBLISHING: 'false',
        DEFAULT_SOURCE: "'api'",
        MYSQL_TABLE_TARGET: "'esink_pubsub'",
        MYSQL_DATABASE: 'esink',
        TABLE_NAMES: "'users,transactions,bankRecords,table_name_4'",
        TABLE_AUTH_COLUMN_ROUTING: `'${ESINK_ROUTING}'`,
        SECURITY_TOKEN: '"s3cret"',
      },
    );
    expect(c.defaultSource).toBe('api');
    expect(c.mysqlTableTarget).toBe('esink_pubsub');
    expect(c.securityToken).toBe('s3cret');
    expect(c.port).toBe(80);
    expect(c.tableNames).toEqual(['users', 'transactions', 'bankRecords', 'table_name_4']);
    expect(c.tableAuthColumnRouting).toEqual({
      users: ['id'],
      games: ['hostUserId'],
      pushNotifications: ['userID', 'senderID', 'recipientID'],
      targetStatuses: '*',
      usersXtargets: ['userID'],
    });
    // Only one matching pair is removed: quotes inside a value stay.
    expect(loadConfig({}, { DEFAULT_SOURCE: `"it's"` }).defaultSource).toBe("it's");
    expect(loadConfig({}, { DEFAULT_SOURCE: `'api"` }).defaultSource).toBe(`'api"`);
  });

  function problemsOf(env: Record<string, string>, explicit: Record<string, unknown> = {}): string {
    try {
      loadConfig(explicit, env);
    } catch (err) {
      expect(err).toMatchObject({ code: 'INVALID_CONFIG' });
      return (err as { details: { problems: string[] } }).details.problems.join('\n');
    }
    throw new Error('expected INVALID_CONFIG');
  }

  test('TABLE_AUTH_COLUMN_ROUTING: not JSON, not an object and a wrong entry each say what is wrong', () => {
    expect(problemsOf({ TABLE_AUTH_COLUMN_ROUTING: '{bad json' })).toMatch(
      /^TABLE_AUTH_COLUMN_ROUTING="\{bad json": not valid JSON \(JSON5: .+\); expected \{"table": "column" \| \["column", \.\.\.\] \| "\*"\}$/,
    );
    expect(problemsOf({ TABLE_AUTH_COLUMN_ROUTING: '{"product": 5}' })).toBe(
      'TABLE_AUTH_COLUMN_ROUTING="{\\"product\\": 5}": table "product": expected a column name, a list of column names or "*"; got the number 5',
    );
    expect(problemsOf({ TABLE_AUTH_COLUMN_ROUTING: '{"a": [], "b": ["x", 2]}' })).toContain(
      'table "a": expected a column name, a list of column names or "*"; got an empty list',
    );
    expect(problemsOf({ TABLE_AUTH_COLUMN_ROUTING: '{"a": [], "b": ["x", 2]}' })).toContain('table "b": expected');
    expect(problemsOf({ TABLE_AUTH_COLUMN_ROUTING: '["users"]' })).toContain('expected an object of tables');
  });

  test('numbers, booleans and choices: the option, the value, what is expected, and the likely fix', () => {
    expect(problemsOf({ PORT: 'abc' })).toBe('PORT="abc": expected a whole number from 0 to 65535');
    expect(problemsOf({ PORT: '70000' })).toBe('PORT="70000": expected a whole number from 0 to 65535');
    expect(problemsOf({}, { demo: 'flase' })).toBe(
      '--demo="flase": expected true or false (also 1/0, yes/no, on/off); did you mean "false"?',
    );
    expect(problemsOf({ ADAPTER: 'pglit' })).toBe('ADAPTER="pglit": expected one of "pglite", "postgres", "mysql"; did you mean "pglite"?');
    expect(problemsOf({ ALLOW_REPUBLISHING: 'maybe' })).toBe(
      'ALLOW_REPUBLISHING="maybe": expected true or false (also 1/0, yes/no, on/off)',
    );
  });

  test('USE_SSL with only one of TLS_CERT_FILE / TLS_KEY_FILE names the missing one', () => {
    expect(problemsOf({ USE_SSL: 'true', TLS_CERT_FILE: '/x/cert.pem' })).toBe(
      'USE_SSL: TLS_CERT_FILE is set but TLS_KEY_FILE is not: set both (your certificate and its key), or neither for a generated self-signed certificate',
    );
    expect(loadConfig({}, { USE_SSL: 'true' }).useSsl).toBe(true);
  });
});

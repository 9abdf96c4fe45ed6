/**
 * Tokens and hidden fields never appear in logs (issue 5): a server logging at
 * trace level, with request logging on, goes through every path with tokens
 * (good, bad, admin) and documents carrying hidden values; no log line holds any.
 */
import { io as connect, type Socket } from 'socket.io-client';
import { expect, test } from 'vitest';
import { createServer } from '../src/server.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { opId } from './harness.js';

const ADMIN_TOKEN = 'ADMIN-TOKEN-MARK-5f1c2a9d';
const HIDDEN = ['HIDDEN-MARK-rest', 'HIDDEN-MARK-sync', 'HIDDEN-MARK-actions'];

function socket(url: string, ns: string, token: string): Promise<Socket> {
  return new Promise((resolve) => {
    const s: Socket = connect(`${url}${ns}`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token } });
    s.on('connect', () => resolve(s));
    s.on('connect_error', () => resolve(s));
  });
}

test('no token (good, bad or admin) and no hidden field value is ever logged', async () => {
  const lines: string[] = [];
  const server = await createServer({
    dataDir: 'memory://',
    env: {},
    host: '127.0.0.1',
    port: 0,
    logLevel: 'trace',
    logRequests: true,
    jwtSecret: HS_SECRET,
    adminToken: ADMIN_TOKEN,
    // writeHidden: the hidden values are stored, so reads and pushes of them are logged paths too.
    rules: { notes: { read: { field: 'owner' }, write: { field: 'owner' }, writeHidden: { field: 'owner' }, hidden: ['secret'] } },
    logStream: { write: (line) => void lines.push(line) },
  });
  const url = await server.listen();
  const good = await jwtFor('alice');
  const tokens = [good, 'BAD-TOKEN-MARK-rest', 'BAD-TOKEN-MARK-socket', ADMIN_TOKEN, 'QUERY-TOKEN-MARK'];
  const sockets: Socket[] = [];
  try {
    const rest = (method: string, path: string, token: string | undefined, body?: unknown) =>
      fetch(`${url}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      }).then((r) => r.text());
    const note = (docId: string, secret: string) => ({
      id: opId(),
      type: 'insert',
      collection: 'notes',
      docId,
      data: { owner: 'alice', secret },
    });
    await rest('POST', '/operations', good, { clientId: 'c1', operations: [note('n1', HIDDEN[0] as string)] });
    // A refused write (bob's note by alice) and an invalid one, both carrying hidden values.
    await rest('POST', '/operations', good, {
      clientId: 'c1',
      operations: [{ ...note('n9', HIDDEN[0] as string), data: { owner: 'bob', secret: HIDDEN[0] } }, { bad: HIDDEN[0] }],
    });
    // Stored (writeHidden), yet never in a payload.
    expect(await rest('GET', '/documents/notes/n1', good)).toMatch(/"owner":"alice"/);
    expect(await rest('GET', '/documents/notes/n1', good)).not.toContain('HIDDEN-MARK');
    await rest('POST', '/documents/notes/query', good, { filter: { secret: HIDDEN[0] } });
    await rest('POST', '/changes', good, { since: 0 });
    await rest('POST', '/changes', 'BAD-TOKEN-MARK-rest', { since: 0 });
    await rest('GET', '/stats', ADMIN_TOKEN);
    await rest('GET', '/stats?token=QUERY-TOKEN-MARK', undefined);
    await rest('GET', '/documents/notes/n1?access_token=QUERY-TOKEN-MARK', undefined);

    const sync = await socket(url, '/sync', good);
    sockets.push(sync);
    await sync.timeout(5000).emitWithAck('subscribe', { collection: 'notes' });
    await sync.timeout(5000).emitWithAck('push', { clientId: 'c2', operations: [note('n2', HIDDEN[1] as string)] });
    sockets.push(await socket(url, '/sync', 'BAD-TOKEN-MARK-socket'));
    sockets.push(await socket(url, '/sendActions', 'BAD-TOKEN-MARK-socket'));
    const actions = await socket(url, '/sendActions', good);
    sockets.push(actions);
    actions.emit('sendActions', [{ id: opId(), type: 'CREATE', table: 'notes', record: { id: 'n3', owner: 'alice', secret: HIDDEN[2] } }]);
    const esink = await socket(url, '/', good);
    sockets.push(esink);
    sockets.push(await socket(url, '/', 'BAD-TOKEN-MARK-socket'));
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    for (const s of sockets) s.disconnect();
    await server.close();
  }
  const log = lines.join('');
  // Logging was on: requests were logged (with their redacted authorization header).
  expect(lines.length).toBeGreaterThan(15);
  expect(log).toContain('/documents/notes/n1');
  expect(log).toContain('/stats?token=%5BRedacted%5D');
  for (const secret of [...tokens, ...HIDDEN]) expect(log, secret).not.toContain(secret);
}, 120_000); // its own PGlite server: slow to start on a loaded machine

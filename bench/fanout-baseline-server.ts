/**
 * Baseline of the fanout and memory scenarios: a bare Socket.IO server (no
 * storage, no namespaces, no rooms) that broadcasts each write it is sent.
 *
 *   PORT=… node --import tsx bench/fanout-baseline-server.ts
 *
 * `POST /operations` takes the same body as Syncline's (`{clientId, operations}`)
 * and, per operation, `io.emit('changes', frame)`s a frame shaped like
 * Syncline's `/sync` frames, `{subscriptionId, changes: [change], from, position}`,
 * with the change shaped like a Syncline change and `timestamp` = the wall
 * clock (ms, sub-millisecond) just before the emit. It answers
 * `{results: [{id, status: 'applied'}…]}`. `GET /health` answers 200 with
 * `{status: 'ok', position}`: the position of the last frame sent (a new client's starting point).
 */
import http from 'node:http';
import { Server } from 'socket.io';

interface Op {
  id: string;
  type: string;
  collection: string;
  docId: string;
  data?: Record<string, unknown>;
}

const port = Number(process.env.PORT ?? 0);
const wall = () => performance.timeOrigin + performance.now();
let position = 0;

const httpServer = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', position }));
    return;
  }
  if (req.method !== 'POST' || req.url !== '/operations') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: { clientId: string; operations: Op[] };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const results = [];
    for (const op of body.operations) {
      const from = position;
      position++;
      const change = {
        position,
        id: op.id,
        type: op.type,
        collection: op.collection,
        docId: op.docId,
        data: op.data ?? null,
        version: 1,
        vectorClock: { [body.clientId]: 1 },
        timestamp: wall(),
        clientId: body.clientId,
        source: 'api',
        synced: true,
      };
      io.emit('changes', { subscriptionId: 'baseline', changes: [change], from, position });
      results.push({ id: op.id, status: 'applied' });
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results }));
  });
});

// As Fastify's default (72 s): the writer's keep-alive sockets must not be closed under it between phases.
httpServer.keepAliveTimeout = 72_000;
const io = new Server(httpServer, { transports: ['websocket'] });

httpServer.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});

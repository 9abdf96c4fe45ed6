import type { Server as HttpServer } from 'node:http';
import { Server } from 'socket.io';
import type { Config } from '../config/options.js';

/** Socket.IO on the REST API's HTTP server: websocket and polling transports, bounded messages. */
export function createSocketServer(httpServer: HttpServer, config: Config): Server {
  const origins = config.corsOrigin === 'false' ? false : config.corsOrigin.split(',').map((o) => o.trim());
  return new Server(httpServer, {
    transports: ['websocket', 'polling'],
    maxHttpBufferSize: config.socketMaxMessageBytes,
    // socket.io-client v2 (Engine.IO 3) speaks an older handshake; Socket.IO serves it on request.
    allowEIO3: config.allowEio3,
    ...(origins ? { cors: { origin: origins.length === 1 && origins[0] === '*' ? '*' : origins } } : {}),
  });
}

/** Disconnects every client without closing the HTTP server (it may be the embedding application's). */
export async function closeSocketServer(io: Server): Promise<void> {
  io.disconnectSockets(true);
  for (const nsp of io._nsps.values()) nsp.disconnectSockets(true);
  io.engine.close();
}

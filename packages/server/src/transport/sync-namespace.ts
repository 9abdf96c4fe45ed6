import type { Server } from 'socket.io';
import type { SocketDeps, StopNamespace } from './socket-deps.js';

/** Namespace `/sync` (placeholder until implemented). */
export async function registerSyncNamespace(_io: Server, _deps: SocketDeps): Promise<StopNamespace> {
  return async () => {};
}

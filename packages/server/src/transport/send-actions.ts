import type { Server } from 'socket.io';
import type { SocketDeps, StopNamespace } from './socket-deps.js';

/** Namespace `/sendActions` (placeholder until implemented). */
export async function registerSendActions(_io: Server, _deps: SocketDeps): Promise<StopNamespace> {
  return async () => {};
}

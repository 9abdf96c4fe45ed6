/**
 * Authentication of Socket.IO connections (`io(url, {auth: {token}})`) for the
 * SDK namespaces: a namespace middleware, so no event of an unauthenticated
 * socket is ever handled. A refused client gets `connect_error` whose
 * `data` is `{code, message}` (UNAUTHORIZED, or STORAGE_UNAVAILABLE).
 */
import type { Socket } from 'socket.io';
import type { Access } from '../auth/access.js';
import { toSynclineError } from './errors.js';

type ExtendedError = Error & { data?: unknown };

export function socketToken(socket: Socket): string | undefined {
  const raw = (socket.handshake.auth as { token?: unknown } | undefined)?.token ?? socket.handshake.query.token;
  return typeof raw === 'string' ? raw : undefined;
}

export function socketAuth(access: Access) {
  return (socket: Socket, next: (err?: ExtendedError) => void): void => {
    access
      .identify({ token: socketToken(socket), headers: socket.handshake.headers, ip: socket.handshake.address, transport: 'socket' })
      .then(
        (identity) => {
          socket.data.identity = identity;
          next();
        },
        (err) => {
          const e = toSynclineError(err);
          const refusal: ExtendedError = new Error(e.message);
          refusal.data = { code: e.code, message: e.message };
          next(refusal);
        },
      );
  };
}

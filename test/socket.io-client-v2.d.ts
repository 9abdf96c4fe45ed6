/** socket.io-client@2.3.0 (npm alias socket.io-client-v2) ships no types; what the tests use of it. */
declare module 'socket.io-client-v2' {
  interface V2Socket {
    on(event: string, fn: (...args: never[]) => void): V2Socket;
    off(event: string, fn?: (...args: never[]) => void): V2Socket;
    emit(event: string, ...args: unknown[]): V2Socket;
    close(): V2Socket;
  }
  function io(url: string, opts?: Record<string, unknown>): V2Socket;
  export default io;
}

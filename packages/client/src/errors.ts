/** What a write's promise rejects with, and what `conflict` / `rejected` events carry. */
import type { Operation, WireDocument } from '@syncline/protocol';

export class SyncError extends Error {
  constructor(
    /** A code of the server's registry, or a client one: VALIDATION_FAILED, DEPENDENCY_REJECTED, QUEUE_FULL, CLIENT_CLOSED. */
    readonly code: string,
    message: string,
    readonly operation?: Operation,
    /** The server's document when the server refused the write (null: it does not exist). */
    readonly serverDocument?: WireDocument | null,
  ) {
    super(message);
    this.name = 'SyncError';
  }
}

/** The server refused the write (rules, validation, constraints...): nothing was changed there. */
export class RejectedError extends SyncError {
  override name = 'RejectedError';
}

/** The write raced another one; `resolution` says what the configured strategy did. */
export class ConflictError extends SyncError {
  override name = 'ConflictError';
  constructor(
    code: string,
    message: string,
    operation: Operation,
    serverDocument: WireDocument | null,
    readonly resolution: string,
  ) {
    super(code, message, operation, serverDocument);
  }
}

/** A local write that fails the collection's schema: refused before it is queued. */
export class ValidationError extends SyncError {
  override name = 'ValidationError';
  constructor(
    message: string,
    /** Where in the document, e.g. `price` or `tags.0`. */
    readonly path: string,
  ) {
    super('VALIDATION_FAILED', message);
  }
}

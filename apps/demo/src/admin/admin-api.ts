/**
 * Calls to the admin API on the page's own origin. Every failure becomes an ApiFailure:
 * `http` with the server's coded error body `{error, message, code}` when there is one,
 * `network` when the server could not be reached (or answered with something that is
 * not the API, e.g. a dev proxy's 502), so the page can say which it is.
 */

export class ApiFailure extends Error {
  constructor(
    readonly kind: 'http' | 'network',
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  /** The server wants a (different) admin token. */
  get needsToken(): boolean {
    return this.kind === 'http' && (this.status === 401 || this.status === 403);
  }
}

function isErrorBody(body: unknown): body is { code: string; message: string } {
  return typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string';
}

export async function adminFetch<T>(path: string, token: string | null, init: RequestInit = {}, signal?: AbortSignal): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('accept', 'application/json');
  if (token) headers.set('authorization', `Bearer ${token}`);
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers, signal, cache: 'no-store' });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new ApiFailure('network', 0, 'UNREACHABLE', `The server did not answer (${(e as Error).message}).`);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok && body !== undefined) return body as T;
  if (isErrorBody(body)) throw new ApiFailure('http', response.status, body.code, body.message);
  if (response.status >= 500 || response.ok) {
    throw new ApiFailure('network', response.status, 'UNREACHABLE', `HTTP ${response.status} without an API answer.`);
  }
  throw new ApiFailure('http', response.status, `HTTP_${response.status}`, text.slice(0, 200) || response.statusText);
}

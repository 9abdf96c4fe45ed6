import { useEffect, useRef, useState } from 'react';
import { ApiFailure, adminFetch } from './admin-api.js';

export interface PollState<T> {
  data: T | null;
  error: ApiFailure | null;
  /** When the last answer arrived (ms epoch), null before the first. */
  updatedAt: number | null;
}

/**
 * GET `path` now and then every `intervalMs` after the previous answer (never two requests in
 * flight), again at once when the token changes. The last good data stays while errors come in,
 * so a server restart shows stale figures under a banner instead of an empty page.
 */
export function usePoll<T>(path: string, intervalMs: number, token: string | null, onData?: (data: T) => void): PollState<T> {
  const [state, setState] = useState<PollState<T>>({ data: null, error: null, updatedAt: null });
  const onDataRef = useRef(onData);
  onDataRef.current = onData;

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const data = await adminFetch<T>(path, token, {}, abort.signal);
        if (abort.signal.aborted) return;
        onDataRef.current?.(data);
        setState({ data, error: null, updatedAt: Date.now() });
      } catch (e) {
        if (abort.signal.aborted) return;
        const error = e instanceof ApiFailure ? e : new ApiFailure('network', 0, 'UNREACHABLE', String(e));
        setState((s) => ({ ...s, error }));
      }
      timer = setTimeout(tick, intervalMs);
    };
    void tick();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [path, intervalMs, token]);

  return state;
}

import { useCallback, useState } from 'react';

/** The admin token lives in sessionStorage: it survives reloads of this tab, not the browser session. */
const KEY = 'syncline.adminToken';

function read(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function useToken(): [string | null, (token: string | null) => void] {
  const [token, setTokenState] = useState<string | null>(read);
  const setToken = useCallback((next: string | null) => {
    try {
      if (next) sessionStorage.setItem(KEY, next);
      else sessionStorage.removeItem(KEY);
    } catch {
      // Storage disabled: the token still holds for this page's lifetime.
    }
    setTokenState(next || null);
  }, []);
  return [token, setToken];
}

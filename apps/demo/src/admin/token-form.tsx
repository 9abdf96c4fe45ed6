import { useState } from 'react';
import type { ApiFailure } from './admin-api.js';

interface Props {
  error: ApiFailure;
  hadToken: boolean;
  onToken: (token: string) => void;
}

/** Shown when the admin API answers 401/403: the token goes to sessionStorage and every call. */
export function TokenForm({ error, hadToken, onToken }: Props) {
  const [value, setValue] = useState('');
  return (
    <section className="panel token">
      <h2>Admin token needed</h2>
      <p>
        The server answered <span className="code">{error.code}</span> {error.message}
      </p>
      <p className="muted">
        {hadToken ? 'The stored token was not accepted. ' : ''}Enter the server's ADMIN_TOKEN (or a token with the admin claim). It is kept
        in this tab's session storage only.
      </p>
      <form
        data-testid="token-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) onToken(value.trim());
        }}
      >
        <input
          data-testid="token-input"
          type="password"
          autoComplete="off"
          placeholder="ADMIN_TOKEN"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          // biome-ignore lint/a11y/noAutofocus: the page's only field while signed out
          autoFocus
        />
        <button type="submit" data-testid="token-submit" disabled={!value.trim()}>
          Sign in
        </button>
      </form>
    </section>
  );
}

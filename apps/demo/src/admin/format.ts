/** Display helpers shared by the panels. */

export function integer(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US');
}

export function rate(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

/** Accepts ms epoch or an ISO string, whichever the server sent. */
export function toMillis(t: number | string | null | undefined): number | null {
  if (t === null || t === undefined) return null;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(ms) ? ms : null;
}

export function clockTime(t: number | string): string {
  const ms = toMillis(t);
  if (ms === null) return String(t);
  const d = new Date(ms);
  const hms = d.toLocaleTimeString([], { hour12: false, hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return `${hms}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago" relative to `now` (the server's clock). */
export function relativeTime(t: number | string | null | undefined, now: number): string {
  const ms = toMillis(t);
  if (ms === null) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

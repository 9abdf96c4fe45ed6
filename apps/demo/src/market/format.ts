/** Display helpers. */

/** Two decimals, no currency sign (the sign is drawn beside it), so tests read the number. */
export function formatPrice(price: unknown): string {
  return typeof price === 'number' && Number.isFinite(price) ? price.toFixed(2) : String(price ?? '');
}

/** A field value in the pending and conflict panels (`categories`: id → name). */
export function formatValue(field: string, v: unknown, categories?: ReadonlyMap<number, string>): string {
  if (v === undefined) return '—';
  if (v === null) return 'none';
  if (field === 'price') return formatPrice(v);
  if (field === 'category' && typeof v === 'number') return categories?.get(v) ?? `#${v}`;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

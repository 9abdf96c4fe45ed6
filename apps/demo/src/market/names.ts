/**
 * Product names: one shared `Intl.Collator` for the name search, built once
 * (`localeCompare` with options builds a collator on every call: it was most
 * of the page's time at 5,000 products). The list's order itself comes from
 * the SDK's query (`sort: { name: 'asc' }`, the server's order).
 */
const collator = new Intl.Collator(undefined, { usage: 'search', sensitivity: 'base', numeric: true });

/** Word starts of `name` (0 and after a space or punctuation), where a search may begin. */
function wordStarts(name: string): number[] {
  const starts = [0];
  for (let i = 1; i < name.length; i++) {
    if (/[\s,.#/-]/.test(name[i - 1] as string) && !/[\s,.#/-]/.test(name[i] as string)) starts.push(i);
  }
  return starts;
}

/** True when a word of `name` begins with `search` (case and accents ignored: "eco" finds "Apples, Eco"). */
export function nameMatches(name: string, search: string): boolean {
  const q = search.trim();
  if (q === '') return true;
  for (const i of wordStarts(name)) {
    if (collator.compare(name.slice(i, i + q.length), q) === 0) return true;
  }
  return false;
}

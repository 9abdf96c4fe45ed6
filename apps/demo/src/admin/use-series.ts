import { useCallback, useState } from 'react';
import type { ApiFailure } from './admin-api.js';
import type { Sample, Series } from './api-types.js';
import { usePoll } from './use-poll.js';

/** As many samples as the server keeps (600 at one a second: the last ten minutes). */
export const MAX_SAMPLES = 600;

/** Samples of `next` newer than the last of `prev`, appended; the oldest dropped past MAX_SAMPLES. */
export function mergeSamples(prev: readonly Sample[], next: readonly Sample[]): Sample[] {
  const last = prev.length > 0 ? prev[prev.length - 1]!.t : Number.NEGATIVE_INFINITY;
  const fresh = next.filter((s) => s.t > last);
  if (fresh.length === 0) return prev as Sample[];
  const merged = prev.concat(fresh);
  return merged.length > MAX_SAMPLES ? merged.slice(merged.length - MAX_SAMPLES) : merged;
}

/**
 * The chart history: the first answer of /admin/api/series draws the last minutes, later
 * answers only append what is new, so a missed poll leaves no gap and nothing is drawn twice.
 */
export function useSeries(token: string | null): { samples: Sample[]; error: ApiFailure | null } {
  const [samples, setSamples] = useState<Sample[]>([]);
  const onData = useCallback((series: Series) => setSamples((prev) => mergeSamples(prev, series.samples ?? [])), []);
  const { error } = usePoll<Series>('/admin/api/series', 1000, token, onData);
  return { samples, error };
}

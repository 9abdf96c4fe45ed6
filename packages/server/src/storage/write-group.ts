/**
 * Group commit for the server's own writes. Each request used to pay a write
 * transaction of its own and wait for a sequencing pass (sequencer.ts); one
 * operation per request (what an SDK client sends for each user action) then
 * cost two commits per operation. Requests that arrive while a group is being
 * written wait for the next group, which takes them all: one read, one write
 * statement (all or nothing) and one sequencing pass for many requests. There
 * is no timer: a request that finds nothing in flight goes at once, so a lone
 * writer waits for no one, and the busier the server, the bigger the groups.
 *
 * A group is a prefix of the queue: it stops before the first request that
 * touches a key (a document, an operation id) of an earlier request of the
 * group or of a group in flight, so requests touching the same record still
 * apply in arrival order, and a group's requests never race each other.
 */

export interface GroupEntry {
  /** What the request touches: no two requests sharing a key are in flight together. */
  keys: readonly string[];
  /** Operations in the request (a group holds at most `maxSize`, unless one request alone is bigger). */
  size: number;
}

interface Waiting<E, R> {
  entry: E;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

/** Per request: its outcome, or the error it alone is failed with. */
export type GroupOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export class WriteGroups<E extends GroupEntry, R> {
  private queue: Waiting<E, R>[] = [];
  private inFlight = 0;
  /** Keys of the groups being written. */
  private readonly busy = new Set<string>();

  /**
   * `write(entries)` writes one group and answers each entry (same order); if
   * it throws, every entry of the group is failed with that error.
   */
  constructor(
    private readonly write: (entries: E[]) => Promise<GroupOutcome<R>[]>,
    private readonly options: { maxInFlight: number; maxSize: number },
  ) {}

  submit(entry: E): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const group = this.take();
      if (group.length === 0) return;
      this.run(group);
    }
  }

  private take(): Waiting<E, R>[] {
    const group: Waiting<E, R>[] = [];
    const seen = new Set<string>();
    let size = 0;
    for (const w of this.queue) {
      if (group.length > 0 && size + w.entry.size > this.options.maxSize) break;
      if (w.entry.keys.some((k) => this.busy.has(k) || seen.has(k))) break;
      for (const k of w.entry.keys) seen.add(k);
      size += w.entry.size;
      group.push(w);
    }
    this.queue.splice(0, group.length);
    for (const k of seen) this.busy.add(k);
    return group;
  }

  private run(group: Waiting<E, R>[]): void {
    this.inFlight++;
    this.write(group.map((w) => w.entry))
      .then(
        (outcomes) =>
          group.forEach((w, i) => {
            const o = outcomes[i];
            if (!o) w.reject(new Error('write group: no outcome for a request'));
            else if (o.ok) w.resolve(o.value);
            else w.reject(o.error);
          }),
        (err) => {
          for (const w of group) w.reject(err);
        },
      )
      .finally(() => {
        for (const w of group) for (const k of w.entry.keys) this.busy.delete(k);
        this.inFlight--;
        this.schedule();
      });
  }
}

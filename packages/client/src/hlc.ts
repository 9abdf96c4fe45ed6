/**
 * Hybrid logical clock stamps for field-level last-writer-wins (`conflict: 'merge'`).
 * A stamp is `<ms, 13 digits>:<counter, 6 digits>:<node>`: stamps compare as strings,
 * in the order of physical time, then counter, then node (a total order, so every
 * replica picks the same winner).
 */
export class HybridClock {
  private ms = 0;
  private counter = 0;

  constructor(
    private readonly node: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** A stamp later than every stamp this clock made or saw. */
  tick(): string {
    const t = this.now();
    if (t > this.ms) {
      this.ms = t;
      this.counter = 0;
    } else this.counter++;
    return format(this.ms, this.counter, this.node);
  }

  /** Moves past a stamp seen from elsewhere. */
  observe(stamp: string): void {
    const p = parse(stamp);
    if (!p) return;
    if (p.ms > this.ms || (p.ms === this.ms && p.counter > this.counter)) {
      this.ms = p.ms;
      this.counter = p.counter;
    }
  }
}

const format = (ms: number, counter: number, node: string) => `${String(ms).padStart(13, '0')}:${String(counter).padStart(6, '0')}:${node}`;

function parse(stamp: string): { ms: number; counter: number } | undefined {
  const m = /^(\d{13}):(\d{6}):/.exec(stamp);
  return m ? { ms: Number(m[1]), counter: Number(m[2]) } : undefined;
}

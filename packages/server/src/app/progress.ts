/**
 * Progress of long work (app migrations, seeds, compaction). The library
 * reports through this interface; the CLI draws it (cli-progress-bar.ts).
 */
export interface Progress {
  /** `n` more units done; `detail` names what is being done now (a file name). */
  tick(n?: number, detail?: string): void;
  done(): void;
}

/** Starts a progress report of `total` units under `label`. */
export type ProgressFactory = (label: string, total: number) => Progress;

export const noProgress: ProgressFactory = () => ({ tick() {}, done() {} });

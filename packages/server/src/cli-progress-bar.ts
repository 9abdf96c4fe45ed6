/**
 * The CLI's progress bars on stderr: a cli-progress bar when stderr is a
 * terminal; otherwise plain lines (`label: 30/60 (50%)`) about every 10% and at
 * the end, so logs and tests can read them.
 */
import cliProgress from 'cli-progress';
import type { Progress, ProgressFactory } from './app/progress.js';

export function cliProgressBars(stream: NodeJS.WriteStream = process.stderr): ProgressFactory {
  return (label, total) => (stream.isTTY ? ttyBar(stream, label, total) : plainLines(stream, label, total));
}

function ttyBar(stream: NodeJS.WriteStream, label: string, total: number): Progress {
  const bar = new cliProgress.SingleBar(
    { stream, format: `${label} [{bar}] {value}/{total} {detail}`, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let value = 0;
  bar.start(total, 0, { detail: '' });
  return {
    tick(n = 1, detail) {
      value += n;
      // A total counted before the work may be exceeded (rows written meanwhile).
      if (value > total) bar.setTotal(value);
      bar.update(value, { detail: detail ?? '' });
    },
    done() {
      bar.stop();
    },
  };
}

function plainLines(stream: NodeJS.WriteStream, label: string, total: number): Progress {
  let value = 0;
  let nextMark = 0.1;
  let lastDetail = '';
  const line = (suffix = '') => {
    const pct = total > 0 ? Math.min(100, Math.floor((value / total) * 100)) : 100;
    stream.write(`${label}: ${value}/${Math.max(total, value)} (${pct}%)${suffix}\n`);
  };
  return {
    tick(n = 1, detail) {
      value += n;
      if (detail && detail !== lastDetail) {
        // Named steps (migration files) are few: each gets its line.
        lastDetail = detail;
        line(` ${detail}`);
        nextMark = Math.floor((value / Math.max(total, 1)) * 10 + 1) / 10;
        return;
      }
      if (total > 0 && value / total >= nextMark && value < total) {
        line();
        nextMark = Math.floor((value / total) * 10 + 1) / 10;
      }
    },
    done() {
      line(' done');
    },
  };
}

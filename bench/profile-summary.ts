/**
 * Summarizes a V8 .cpuprofile (from `npm run bench -- --cpu-prof`): the
 * functions with the most self time, and the most inclusive time, as a share
 * of the profiled (non-idle) time.
 *
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP=25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (n: ProfileNode) => {
  const f = n.callFrame;
  const where = f.url
    ? f.url
        .replace(/^file:\/\//, '')
        .replace(/^.*node_modules\//, '~/')
        .replace(/^.*\/packages\//, '')
    : '';
  return `${f.functionName || '(anonymous)'} ${where ? `${where}:${f.lineNumber + 1}` : ''}`.trim();
};
const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);

const self = new Map<string, number>();
const incl = new Map<string, number>();
let busy = 0;
let gc = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  const node = byId.get(prof.samples[i] as number);
  if (!node) continue;
  const name = node.callFrame.functionName;
  if (name === '(garbage collector)') gc += dt;
  if (name === '(idle)' || name === '(program)') continue;
  busy += dt;
  const l = label(node);
  self.set(l, (self.get(l) ?? 0) + dt);
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const n = byId.get(id);
    if (!n || IDLE.has(n.callFrame.functionName) || n.callFrame.functionName === '(root)') continue;
    const k = label(n);
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + dt);
  }
}
const pct = (v: number) => `${((v / busy) * 100).toFixed(1).padStart(5)}%`;
const ms = (v: number) => `${(v / 1000).toFixed(0).padStart(7)} ms`;
process.stdout.write(`${file}\nbusy ${(busy / 1000).toFixed(0)} ms (GC ${(gc / 1000).toFixed(0)} ms)\n\nself time:\n`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(v)} ${pct(v)}  ${k}\n`);
process.stdout.write('\ninclusive time:\n');
for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(v)} ${pct(v)}  ${k}\n`);

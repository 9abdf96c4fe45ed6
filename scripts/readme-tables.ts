/**
 * README's configuration and error tables, generated from the option
 * declarations and the error registry (declared once). `npm run docs` rewrites
 * them in place; the docs test fails when README is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes } from '../packages/protocol/src/errors.js';
import { options } from '../packages/server/src/config/options.js';

export const README = resolve(import.meta.dirname, '../README.md');

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

function defaultOf(schema: { safeParse(v: unknown): { success: boolean; data?: unknown } }): string {
  const r = schema.safeParse(undefined);
  const v = r.success ? r.data : undefined;
  if (v === undefined || (Array.isArray(v) && v.length === 0)) return '—';
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 0) return '—';
  return `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;
}

export function optionsTable(): string {
  const rows = ['| Variable | Flag | Default | Description |', '| --- | --- | --- | --- |'];
  for (const [name, spec] of Object.entries(options)) {
    rows.push(
      `| ${spec.env.map((e) => `\`${e}\``).join(', ')} | \`--${kebab(name)}\` | ${defaultOf(spec.schema)} | ${cell(spec.description)} |`,
    );
  }
  return rows.join('\n');
}

export function errorsTable(): string {
  const rows = ['| Code | HTTP | Meaning / what to do |', '| --- | --- | --- |'];
  for (const [code, spec] of Object.entries(ErrorCodes)) rows.push(`| \`${code}\` | ${spec.status} | ${cell(spec.message)} |`);
  return rows.join('\n');
}

const BLOCKS = { options: optionsTable, errors: errorsTable } as const;

/** README with each generated block replaced. */
export function regenerate(readme: string): string {
  let out = readme;
  for (const [name, make] of Object.entries(BLOCKS)) {
    const re = new RegExp(`(<!-- ${name}:start[^>]*-->\\n)[\\s\\S]*?(\\n<!-- ${name}:end -->)`);
    if (!re.test(out)) throw new Error(`README has no <!-- ${name}:start --> … <!-- ${name}:end --> block`);
    out = out.replace(re, (_m, a: string, b: string) => `${a}${make()}${b}`);
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(README, regenerate(readFileSync(README, 'utf8')));
}

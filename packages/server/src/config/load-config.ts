import { existsSync, readFileSync } from 'node:fs';
import { SynclineError } from '@syncline/protocol';
import { applyDemo } from '../app/demo.js';
import { type Config, type ConfigInput, type OptionName, options } from './options.js';

/**
 * Resolves each option from (highest first) explicit values (library use or CLI
 * flags), then environment variables, then the config file, then its default;
 * validates all of them and reports every invalid one at once; returns a frozen Config.
 */
export function loadConfig(explicit: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  const file = readConfigFile(explicit, env, problems);
  /** Options nobody set (their declared default applies): some defaults depend on another option. */
  const defaulted = new Set<OptionName>();
  for (const name of Object.keys(options) as OptionName[]) {
    const spec = options[name];
    let raw: unknown = explicit[name];
    let source = `--${kebab(name)}`;
    if (raw === undefined) {
      for (const key of spec.env) {
        const v = env[key];
        if (v !== undefined && v !== '') {
          raw = unquote(v);
          source = key;
          break;
        }
      }
    }
    if (raw === undefined && file) {
      for (const key of [name, ...spec.env]) {
        if (file.values[key] !== undefined) {
          raw = file.values[key];
          source = `${file.path}: ${key}`;
          break;
        }
      }
    }
    if (raw === undefined) defaulted.add(name);
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else problems.push(`${source}=${JSON.stringify(raw)}: ${explain(parsed.error.issues, raw)}`);
  }
  if (out.demo) applyDemo(out, problems);
  if (out.adapter === undefined) out.adapter = out.mysqlDatabase ? 'mysql' : out.databaseUrl ? 'postgres' : 'pglite';
  if (out.adapter === 'postgres' && !out.databaseUrl) {
    problems.push('ADAPTER=postgres needs DATABASE_URL (or POSTGRES_DATABASE_URL)');
  }
  if (out.adapter === 'mysql' && !out.mysqlDatabase) problems.push('ADAPTER=mysql needs MYSQL_DATABASE');
  if (out.actionMode === 'held') {
    // Each open action holds a PostgreSQL connection: small pools by default.
    if (out.adapter !== 'postgres') problems.push('SYNCLINE_ACTION_MODE=held needs PostgreSQL (DATABASE_URL); use staged');
    const held = { maxOpenActionsPerSocket: 16, maxOpenActionsPerUser: 16, maxOpenActions: 64 } as const;
    for (const [name, value] of Object.entries(held) as [OptionName, number][]) if (defaulted.has(name)) out[name] = value;
  }
  if (out.authTable && !out.authColumn) problems.push('AUTH_TABLE needs AUTH_COLUMN');
  if (out.authColumn && !out.authTable) problems.push('AUTH_COLUMN needs AUTH_TABLE');
  if (out.allowTestToken && out.nodeEnv === 'production') {
    problems.push('ALLOW_TEST_TOKEN cannot be used with NODE_ENV=production');
  }
  const requestTimeoutMs = out.requestTimeoutMs as number;
  if (requestTimeoutMs > 0 && (out.headersTimeoutMs as number) > requestTimeoutMs) {
    problems.push('SYNCLINE_HEADERS_TIMEOUT_MS must not exceed SYNCLINE_REQUEST_TIMEOUT_MS');
  }
  // Neither file: a self-signed certificate is generated (transport/tls.ts); one alone is a mistake.
  if (out.useSsl && !out.tlsCertFile !== !out.tlsKeyFile) {
    const [set, unset] = out.tlsCertFile ? ['TLS_CERT_FILE', 'TLS_KEY_FILE'] : ['TLS_KEY_FILE', 'TLS_CERT_FILE'];
    problems.push(
      `USE_SSL: ${set} is set but ${unset} is not: set both (your certificate and its key), or neither for a generated self-signed certificate`,
    );
  }
  if (problems.length > 0) {
    throw new SynclineError('INVALID_CONFIG', `Invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  }
  return Object.freeze(out) as Config;
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * Compose's list syntax (`- DEFAULT_SOURCE='api'`) and some .env loaders keep the quotes around a
 * value; one matching pair is removed from every variable, so every option reads them alike.
 */
function unquote(v: string): string {
  const t = v.trim();
  return t.length >= 2 && (t[0] === "'" || t[0] === '"') && t.at(-1) === t[0] ? t.slice(1, -1) : v;
}

/** zod's issues in plain words, with the nearest allowed value when a word was misspelt. */
function explain(issues: readonly { code: string; message: string; values?: readonly unknown[] }[], raw: unknown): string {
  return issues
    .map((issue) => {
      const allowed =
        issue.code === 'invalid_value' && issue.values
          ? issue.values.map(String)
          : issue.message.startsWith('expected true or false')
            ? ['true', 'false']
            : undefined;
      if (issue.code === 'invalid_value' && issue.values) {
        issue = { ...issue, message: `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` };
      }
      const near = typeof raw === 'string' && allowed ? nearest(raw, allowed) : undefined;
      return near ? `${issue.message}; did you mean "${near}"?` : issue.message;
    })
    .join('; ');
}

/** The allowed word within two edits of the given one (a typo like "flase"), if any. */
function nearest(word: string, allowed: string[]): string | undefined {
  const w = word.trim().toLowerCase();
  let best: { value: string; d: number } | undefined;
  for (const value of allowed) {
    const d = editDistance(w, value.toLowerCase());
    if (d > 0 && d <= 2 && (!best || d < best.d)) best = { value, d };
  }
  return best?.value;
}

/** Damerau-Levenshtein (optimal string alignment), so a swapped pair of letters counts as one edit. */
function editDistance(a: string, b: string): number {
  const w = b.length + 1;
  const d = new Uint16Array((a.length + 1) * w);
  for (let i = 0; i <= a.length; i++) d[i * w] = i;
  for (let j = 0; j <= b.length; j++) d[j] = j;
  const at = (i: number, j: number) => d[i * w + j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * w + j] = v;
    }
  }
  return at(a.length, b.length);
}

/** The config file's values, or undefined when there is none (a file named explicitly must exist). */
function readConfigFile(
  explicit: ConfigInput,
  env: NodeJS.ProcessEnv,
  problems: string[],
): { path: string; values: Record<string, unknown> } | undefined {
  const named = explicit.configFile ?? options.configFile.env.map((k) => env[k]).find((v) => v !== undefined && v !== '');
  const path = named ?? 'syncline.config.json';
  if (!existsSync(path)) {
    if (named !== undefined) problems.push(`SYNCLINE_CONFIG: no such file: ${path}`);
    return undefined;
  }
  try {
    const values = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (values === null || typeof values !== 'object' || Array.isArray(values)) {
      problems.push(`${path}: expected a JSON object of options`);
      return undefined;
    }
    const known = new Set<string>(Object.entries(options).flatMap(([name, spec]) => [name, ...spec.env]));
    for (const key of Object.keys(values)) if (!known.has(key)) problems.push(`${path}: unknown option ${key}`);
    return { path, values: values as Record<string, unknown> };
  } catch (err) {
    problems.push(`${path}: ${(err as Error).message}`);
    return undefined;
  }
}

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
  for (const name of Object.keys(options) as OptionName[]) {
    const spec = options[name];
    let raw: unknown = explicit[name];
    let source = `option ${name}`;
    if (raw === undefined) {
      for (const key of spec.env) {
        const v = env[key];
        if (v !== undefined && v !== '') {
          raw = v;
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
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else problems.push(`${source}=${JSON.stringify(raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (out.demo) applyDemo(out, problems);
  if (out.adapter === undefined) out.adapter = out.mysqlDatabase ? 'mysql' : out.databaseUrl ? 'postgres' : 'pglite';
  if (out.adapter === 'postgres' && !out.databaseUrl) {
    problems.push('ADAPTER=postgres needs DATABASE_URL (or POSTGRES_DATABASE_URL)');
  }
  if (out.adapter === 'mysql' && !out.mysqlDatabase) problems.push('ADAPTER=mysql needs MYSQL_DATABASE');
  if (out.authTable && !out.authColumn) problems.push('AUTH_TABLE needs AUTH_COLUMN');
  if (out.authColumn && !out.authTable) problems.push('AUTH_COLUMN needs AUTH_TABLE');
  if (out.allowTestToken && out.nodeEnv === 'production') {
    problems.push('ALLOW_TEST_TOKEN cannot be used with NODE_ENV=production');
  }
  const requestTimeoutMs = out.requestTimeoutMs as number;
  if (requestTimeoutMs > 0 && (out.headersTimeoutMs as number) > requestTimeoutMs) {
    problems.push('SYNCLINE_HEADERS_TIMEOUT_MS must not exceed SYNCLINE_REQUEST_TIMEOUT_MS');
  }
  if (out.useSsl && (!out.tlsCertFile || !out.tlsKeyFile)) {
    problems.push('USE_SSL needs TLS_CERT_FILE and TLS_KEY_FILE');
  }
  if (problems.length > 0) {
    throw new SynclineError('INVALID_CONFIG', `Invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  }
  return Object.freeze(out) as Config;
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

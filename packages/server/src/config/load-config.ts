import { SynclineError } from '@syncline/protocol';
import { type Config, type ConfigInput, type OptionName, options } from './options.js';

/**
 * Resolves each option from (highest first) explicit values (library use or CLI
 * flags), then environment variables, then its default; validates all of them
 * and reports every invalid one at once; returns a frozen Config.
 */
export function loadConfig(explicit: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
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
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else problems.push(`${source}=${JSON.stringify(raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (out.adapter === undefined) out.adapter = out.databaseUrl ? 'postgres' : 'pglite';
  if (out.adapter === 'postgres' && !out.databaseUrl) {
    problems.push('ADAPTER=postgres needs DATABASE_URL (or POSTGRES_DATABASE_URL)');
  }
  if (out.useSsl && (!out.tlsCertFile || !out.tlsKeyFile)) {
    problems.push('USE_SSL needs TLS_CERT_FILE and TLS_KEY_FILE');
  }
  if (problems.length > 0) {
    throw new SynclineError('INVALID_CONFIG', `Invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  }
  return Object.freeze(out) as Config;
}

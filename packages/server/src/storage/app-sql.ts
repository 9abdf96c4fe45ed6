/**
 * SQL for the application's own migrations and seeds (app/app-migrations.ts,
 * app/seeds.ts), in the storage's database. Every storage offers one
 * (`Storage.appSql()`), so migrations and seeds are written once.
 *
 * Contract:
 * - `query` runs one statement with `$n` placeholders; on MySQL they become `?` (text with `?` and no
 *   `$n`, as Knex writes it, keeps its parameters in order)
 *   (in text order; `$n` inside quotes is left alone) and plain objects JSON text.
 * - `exec` runs a script of several statements without parameters. On MySQL the
 *   script is split at `;` outside quotes and comments; a `DELIMITER xx` line
 *   changes the separator (as the mysql client does, for triggers and procedures).
 * - `exclusive(lock, fn)` runs `fn` on one connection while holding a lock of
 *   that name shared by every instance: in one transaction on PostgreSQL (DDL
 *   included: it all applies or none of it); on MySQL DDL commits implicitly,
 *   so only plain data statements roll back with it.
 */
export interface AppQueryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[]; affectedRows: number }>;
  exec(script: string): Promise<void>;
}

export interface AppSql extends AppQueryable {
  readonly dialect: 'postgres' | 'mysql';
  /** One of Syncline's own tables, quoted: `syncline.app_migrations`, MySQL `syncline_app_migrations`. */
  table(name: string): string;
  exclusive<T>(lock: string, fn: (q: AppQueryable) => Promise<T>): Promise<T>;
}

/** Splits MySQL text into code and the quoted strings, identifiers and comments between it. */
function* tokens(sql: string): Generator<{ code: boolean; text: string }> {
  let i = 0;
  let start = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    let end = -1;
    if (c === "'" || c === '"' || c === '`') {
      end = i + 1;
      while (end < sql.length) {
        if (sql[end] === '\\' && c !== '`') end += 2;
        else if (sql[end] === c && sql[end + 1] === c) end += 2;
        else if (sql[end] === c) break;
        else end++;
      }
      end = Math.min(end + 1, sql.length);
    } else if ((c === '-' && next === '-') || c === '#') {
      const nl = sql.indexOf('\n', i);
      end = nl < 0 ? sql.length : nl;
    } else if (c === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      end = close < 0 ? sql.length : close + 2;
    }
    if (end < 0) {
      i++;
      continue;
    }
    if (i > start) yield { code: true, text: sql.slice(start, i) };
    yield { code: false, text: sql.slice(i, end) };
    i = start = end;
  }
  if (start < sql.length) yield { code: true, text: sql.slice(start) };
}

/** `$n` placeholders to `?` in text order with their values; plain objects become JSON text (MySQL). */
export function toMysqlPlaceholders(sql: string, params: unknown[] = []): [string, unknown[]] {
  const out: unknown[] = [];
  const plain = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !ArrayBuffer.isView(v);
  const json = (v: unknown) => (plain(v) ? JSON.stringify(v) : v);
  let text = '';
  let numbered = false;
  for (const t of tokens(sql)) {
    text += !t.code
      ? t.text
      : t.text.replace(/\$(\d+)/g, (_, n: string) => {
          numbered = true;
          out.push(json(params[Number(n) - 1]));
          return '?';
        });
  }
  // Text already written with `?` (Knex's, for one) keeps its parameters in order.
  return numbered ? [text, out] : [text, params.map(json)];
}

/** The statements of a MySQL script, split as the contract above says. */
export function splitMysqlScript(script: string): string[] {
  const statements: string[] = [];
  let delimiter = ';';
  let current = '';
  const flush = () => {
    if (current.trim() !== '') statements.push(current.trim());
    current = '';
  };
  for (const t of tokens(script)) {
    if (!t.code) {
      current += t.text;
      continue;
    }
    let rest = t.text;
    for (;;) {
      const d = /(^|\n)[ \t]*DELIMITER[ \t]+(\S+)[ \t]*(?=\r?\n|$)/i.exec(rest);
      const at = rest.indexOf(delimiter);
      if (d && (at < 0 || d.index < at)) {
        current += rest.slice(0, d.index);
        flush();
        delimiter = d[2] as string;
        rest = rest.slice(d.index + d[0].length);
      } else if (at >= 0) {
        current += rest.slice(0, at);
        flush();
        rest = rest.slice(at + delimiter.length);
      } else {
        current += rest;
        break;
      }
    }
  }
  flush();
  // A script that is only comments has no statement.
  return statements.filter((s) => [...tokens(s)].some((t) => (t.code ? t.text.trim() !== '' : !/^(--|#|\/\*)/.test(t.text))));
}

/**
 * Versioned migrations of Syncline's own schema (default `syncline`).
 *
 * The change log, in short (DESIGN invariant 1):
 * - Statement-level triggers on `documents` copy each statement's transition
 *   table into `changes`, keyed by (writing transaction `tx`, ordinal `ord`).
 *   Writes made directly in SQL go through the same triggers: one write path.
 * - The first such statement of a transaction inserts a marker into `open_tx`.
 *   A transaction's changes get positions when it is *sequenced*:
 *   `sequence_pending()` takes a transaction-scoped advisory lock, gives every
 *   committed-but-unsequenced transaction (visible marker) a block of
 *   positions, records the blocks in `commits`, and sends one NOTIFY with the
 *   last position. Sequencing transactions are serialized by the lock, which is
 *   released only after their commit is visible, so positions become visible in
 *   order: a reader that sees position p sees every position below p.
 * - Who sequences: a transaction of another program sequences itself at commit
 *   (a DEFERRED constraint trigger on its marker). An API transaction commits
 *   without that step — so API commits are not serialized and group-commit
 *   their WAL flush — and the server sequences it right after commit (and a
 *   timer sweeps any left behind by a crash), before acknowledging it.
 * - Open transactions (e.g. one awaiting its FIN) delay no one.
 * - A change's position is `commits.first_position + changes.ord - 1`.
 */
export interface Migration {
  version: number;
  name: string;
  sql: (schema: string) => string;
}

/** Channel of the one NOTIFY per committed transaction (payload: its last position). */
export const notifyChannel = (schema: string) => `${schema}_changes`;

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'documents, change log, operation log',
    sql: (s) => `
-- Key columns use the "C" collation: byte order, cheaper than a locale's, and
-- the same on every server.
CREATE TABLE ${s}.documents (
  collection text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  version integer NOT NULL DEFAULT 1,
  vclock jsonb NOT NULL DEFAULT '{}'::jsonb,
  deleted boolean NOT NULL DEFAULT false,
  op_id text,
  client_id text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection, id)
);

CREATE TABLE ${s}.changes (
  tx xid8 NOT NULL,
  ord integer NOT NULL,
  collection text COLLATE "C" NOT NULL,
  doc_id text COLLATE "C" NOT NULL,
  type text NOT NULL CHECK (type IN ('insert', 'update', 'delete')),
  data jsonb,
  version integer NOT NULL,
  vclock jsonb NOT NULL,
  op_id text,
  client_id text,
  source text NOT NULL,
  PRIMARY KEY (tx, ord)
);

CREATE TABLE ${s}.commits (
  tx xid8 PRIMARY KEY,
  first_position bigint NOT NULL,
  last_position bigint NOT NULL UNIQUE,
  committed_at timestamptz NOT NULL
);
CREATE INDEX commits_committed_at ON ${s}.commits (committed_at);

CREATE TABLE ${s}.open_tx (tx xid8 PRIMARY KEY, api boolean NOT NULL);
CREATE SEQUENCE ${s}.position_seq AS bigint MINVALUE 1;

CREATE TABLE ${s}.operations (
  id text COLLATE "C" PRIMARY KEY,
  client_id text NOT NULL,
  collection text,
  doc_id text,
  type text,
  status text NOT NULL,
  result jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- BRIN: created_at grows with insertion order; compaction only needs ranges.
CREATE INDEX operations_created_at ON ${s}.operations USING brin (created_at);

CREATE TABLE ${s}.clients (
  client_id text COLLATE "C" PRIMARY KEY,
  position bigint NOT NULL,
  last_seen timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ${s}.meta (key text PRIMARY KEY, value jsonb NOT NULL);

CREATE FUNCTION ${s}.horizon() RETURNS bigint LANGUAGE sql STABLE AS $fn$
  SELECT coalesce((SELECT (value)::bigint FROM ${s}.meta WHERE key = 'horizon'), 0)
$fn$;
-- Newest committed position (never below the compaction horizon).
CREATE FUNCTION ${s}.head_position() RETURNS bigint LANGUAGE sql STABLE AS $fn$
  SELECT greatest(coalesce((SELECT max(last_position) FROM ${s}.commits), 0), ${s}.horizon())
$fn$;

-- Changes after a position, in order, at most lim rows. Walks commits in position
-- order and takes an index range of each one's changes, so a page costs O(lim)
-- whether transactions are small or huge. STABLE: runs in the caller's snapshot.
CREATE FUNCTION ${s}.changes_after(since bigint, lim integer)
RETURNS TABLE (pos bigint, collection text, doc_id text, type text, data jsonb, version integer, vclock jsonb,
               op_id text, client_id text, source text, committed_at timestamptz)
LANGUAGE plpgsql STABLE AS $fn$
#variable_conflict use_column
DECLARE
  c record;
  remaining integer := lim;
  n integer;
BEGIN
  FOR c IN SELECT t.tx, t.first_position, t.committed_at FROM ${s}.commits t
           WHERE t.last_position > since ORDER BY t.last_position LOOP
    RETURN QUERY
      SELECT c.first_position + ch.ord - 1, ch.collection, ch.doc_id, ch.type, ch.data, ch.version, ch.vclock,
             ch.op_id, ch.client_id, ch.source, c.committed_at
      FROM ${s}.changes ch
      WHERE ch.tx = c.tx AND ch.ord > since - c.first_position + 1
      ORDER BY ch.ord
      LIMIT remaining;
    GET DIAGNOSTICS n = ROW_COUNT;
    remaining := remaining - n;
    EXIT WHEN remaining <= 0;
  END LOOP;
END $fn$;

-- Counts this transaction's changes (transaction-local setting) and, on the
-- first one, inserts the marker whose deferred trigger assigns positions.
CREATE FUNCTION ${s}.note_changes(n0 integer, cnt integer) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF cnt > 0 THEN
    PERFORM set_config('${s}.pending', (n0 + cnt)::text, true);
    IF n0 = 0 THEN
      INSERT INTO ${s}.open_tx (tx, api) VALUES (pg_current_xact_id(), ${s}.is_api());
    END IF;
  END IF;
END $fn$;

-- Set (transaction-locally) by the API's write statement, see batch_written().
CREATE FUNCTION ${s}.is_api() RETURNS boolean LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(current_setting('${s}.api', true), '') = 'on'
$fn$;

CREATE FUNCTION ${s}.pending_count() RETURNS integer LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(nullif(current_setting('${s}.pending', true), ''), '0')::integer
$fn$;

CREATE FUNCTION ${s}.capture_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n0 integer := ${s}.pending_count();
  api boolean := ${s}.is_api();
  cnt integer;
BEGIN
  INSERT INTO ${s}.changes (tx, ord, collection, doc_id, type, data, version, vclock, op_id, client_id, source)
  SELECT pg_current_xact_id(), n0 + row_number() OVER (), n.collection, n.id,
         CASE WHEN n.deleted THEN 'delete' ELSE 'insert' END,
         CASE WHEN n.deleted THEN NULL ELSE n.data END,
         n.version, n.vclock,
         CASE WHEN api THEN n.op_id END, CASE WHEN api THEN n.client_id END,
         CASE WHEN api THEN 'api' ELSE 'database' END
  FROM new_rows n;
  GET DIAGNOSTICS cnt = ROW_COUNT;
  PERFORM ${s}.note_changes(n0, cnt);
  RETURN NULL;
END $fn$;

CREATE FUNCTION ${s}.capture_update() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n0 integer := ${s}.pending_count();
  api boolean := ${s}.is_api();
  cnt integer;
BEGIN
  -- Full join: an UPDATE that changes a primary key is a delete of the old key
  -- and an insert of the new one.
  INSERT INTO ${s}.changes (tx, ord, collection, doc_id, type, data, version, vclock, op_id, client_id, source)
  SELECT pg_current_xact_id(), n0 + row_number() OVER (),
         coalesce(n.collection, o.collection), coalesce(n.id, o.id),
         CASE WHEN n.id IS NULL OR n.deleted THEN 'delete'
              WHEN o.id IS NULL OR o.deleted THEN 'insert'
              ELSE 'update' END,
         CASE WHEN n.id IS NULL OR n.deleted THEN NULL ELSE n.data END,
         coalesce(n.version, o.version + 1), coalesce(n.vclock, o.vclock),
         CASE WHEN api THEN n.op_id END, CASE WHEN api THEN n.client_id END,
         CASE WHEN api THEN 'api' ELSE 'database' END
  FROM new_rows n
  FULL JOIN old_rows o ON o.collection = n.collection AND o.id = n.id
  WHERE CASE
    WHEN n.id IS NULL THEN NOT o.deleted
    WHEN o.id IS NULL THEN true
    ELSE NOT (o.deleted AND n.deleted)
         AND (n.deleted <> o.deleted OR n.data IS DISTINCT FROM o.data)
  END;
  GET DIAGNOSTICS cnt = ROW_COUNT;
  PERFORM ${s}.note_changes(n0, cnt);
  RETURN NULL;
END $fn$;

CREATE FUNCTION ${s}.capture_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n0 integer := ${s}.pending_count();
  cnt integer;
BEGIN
  INSERT INTO ${s}.changes (tx, ord, collection, doc_id, type, data, version, vclock, op_id, client_id, source)
  SELECT pg_current_xact_id(), n0 + row_number() OVER (), o.collection, o.id, 'delete', NULL,
         o.version + 1, o.vclock, NULL, NULL, CASE WHEN ${s}.is_api() THEN 'api' ELSE 'database' END
  FROM old_rows o
  WHERE NOT o.deleted;
  GET DIAGNOSTICS cnt = ROW_COUNT;
  PERFORM ${s}.note_changes(n0, cnt);
  RETURN NULL;
END $fn$;

-- TRUNCATE has no transition table: record every live document as deleted
-- before the rows go, so replicas learn of it like of any delete.
CREATE FUNCTION ${s}.capture_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n0 integer := ${s}.pending_count();
  cnt integer;
BEGIN
  INSERT INTO ${s}.changes (tx, ord, collection, doc_id, type, data, version, vclock, op_id, client_id, source)
  SELECT pg_current_xact_id(), n0 + row_number() OVER (), d.collection, d.id, 'delete', NULL,
         d.version + 1, d.vclock, NULL, NULL, 'database'
  FROM ${s}.documents d
  WHERE NOT d.deleted;
  GET DIAGNOSTICS cnt = ROW_COUNT;
  PERFORM ${s}.note_changes(n0, cnt);
  RETURN NULL;
END $fn$;
CREATE TRIGGER capture_truncate BEFORE TRUNCATE ON ${s}.documents
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.capture_truncate();

CREATE TRIGGER capture_insert AFTER INSERT ON ${s}.documents
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${s}.capture_insert();
CREATE TRIGGER capture_update AFTER UPDATE ON ${s}.documents
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${s}.capture_update();
CREATE TRIGGER capture_delete AFTER DELETE ON ${s}.documents
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ${s}.capture_delete();

-- A direct SQL update that leaves version alone still gets a new version, and a
-- '$db' tick in its vector clock, so a client holding the old clock is told it
-- is stale instead of silently overwriting it. The WHEN clause is evaluated
-- without calling the function, so API writes (which set version) pay ~nothing.
CREATE FUNCTION ${s}.bump_version() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.version := OLD.version + 1;
  NEW.vclock := jsonb_set(OLD.vclock, '{$db}', to_jsonb(coalesce((OLD.vclock ->> '$db')::bigint, 0) + 1));
  NEW.updated_at := now();
  RETURN NEW;
END $fn$;
CREATE TRIGGER bump_version BEFORE UPDATE ON ${s}.documents FOR EACH ROW
  WHEN (NEW.version = OLD.version AND (NEW.data IS DISTINCT FROM OLD.data OR NEW.deleted IS DISTINCT FROM OLD.deleted))
  EXECUTE FUNCTION ${s}.bump_version();

-- Last step of the API's write statement: if any row it meant to write was
-- changed or created concurrently (counts differ), abort the whole statement
-- with a retryable error. Else mark the transaction as the API's (its statement
-- triggers fire after this, at the end of the statement) and return its id.
CREATE FUNCTION ${s}.batch_written(ok boolean) RETURNS text LANGUAGE plpgsql AS $fn$
BEGIN
  IF NOT ok THEN
    RAISE EXCEPTION 'a concurrent write touched the same documents' USING ERRCODE = 'SYR01';
  END IF;
  PERFORM set_config('${s}.api', 'on', true);
  RETURN pg_current_xact_id()::text;
END $fn$;

-- Gives positions to every committed, unsequenced transaction (and the
-- caller's own, if it has a marker). Returns the last position assigned, or NULL.
-- Reserves n consecutive positions; returns the first. Only called under the sequencing lock.
CREATE FUNCTION ${s}.reserve_positions(n bigint) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  base bigint := nextval('${s}.position_seq');
BEGIN
  IF n > 1 THEN
    PERFORM setval('${s}.position_seq', base + n - 1);
  END IF;
  RETURN base;
END $fn$;

CREATE FUNCTION ${s}.sequence_pending() RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  last_pos bigint;
BEGIN
  -- Sequencing must wait for its turn whatever the session's lock_timeout.
  PERFORM set_config('lock_timeout', '0', true);
  PERFORM pg_advisory_xact_lock(hashtext('${s}.positions'));
  -- Under the lock, this statement sees every sequencer that committed before us.
  WITH pending AS (
    DELETE FROM ${s}.open_tx RETURNING tx
  ), sized AS (
    SELECT p.tx, (SELECT max(ch.ord) FROM ${s}.changes ch WHERE ch.tx = p.tx)::bigint AS n FROM pending p
  ), numbered AS (
    SELECT tx, n, sum(n) OVER (ORDER BY tx) AS upto, sum(n) OVER () AS total FROM sized WHERE n IS NOT NULL
  ), base AS (
    SELECT ${s}.reserve_positions(max(total)::bigint) AS b FROM numbered HAVING count(*) > 0
  ), ins AS (
    INSERT INTO ${s}.commits (tx, first_position, last_position, committed_at)
    SELECT tx, b + upto - n, b + upto - 1, clock_timestamp() FROM numbered, base
    RETURNING last_position
  )
  SELECT max(last_position) INTO last_pos FROM ins;
  IF last_pos IS NOT NULL THEN
    PERFORM pg_notify('${notifyChannel(s)}', last_pos::text);
  END IF;
  RETURN last_pos;
END $fn$;

-- Called by the server right after its write transactions commit: sequences
-- them (and whatever else is pending) and returns their positions.
CREATE FUNCTION ${s}.sequence(txs xid8[]) RETURNS TABLE (tx text, last_position bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
BEGIN
  PERFORM ${s}.sequence_pending();
  RETURN QUERY SELECT c.tx::text, c.last_position FROM ${s}.commits c WHERE c.tx = ANY(txs);
END $fn$;

-- Transactions of other programs sequence themselves at commit.
CREATE FUNCTION ${s}.assign_positions() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM ${s}.sequence_pending();
  RETURN NULL;
END $fn$;
CREATE CONSTRAINT TRIGGER assign_positions AFTER INSERT ON ${s}.open_tx
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NOT NEW.api) EXECUTE FUNCTION ${s}.assign_positions();
`,
  },
];

export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,40}$/;

/** Applies pending migrations, one transaction each, under a lock so concurrent starts are safe. */
export async function migrate(
  client: import('./sql-client.js').SqlClient,
  schema: string,
  onApplied?: (m: Migration) => void,
): Promise<number[]> {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name: ${schema}`);
  const applied: number[] = [];
  await client.transaction(async (tx) => {
    await tx.query("SELECT set_config('lock_timeout', '0', true), pg_advisory_xact_lock(hashtext($1))", [`${schema}.migrate`]);
    await tx.exec(`CREATE SCHEMA IF NOT EXISTS ${schema};
      CREATE TABLE IF NOT EXISTS ${schema}.migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`);
    const { rows } = await tx.query<{ version: number }>(`SELECT version FROM ${schema}.migrations`);
    const done = new Set(rows.map((r) => r.version));
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql(schema));
      await tx.query(`INSERT INTO ${schema}.migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
      onApplied?.(m);
    }
  });
  return applied;
}

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
 * - Who sequences: never a transaction of another program (migration 4 dropped
 *   the deferred trigger by which they did, under the lock, at commit: that
 *   serialized the application's commits); they commit freely and the server
 *   sweeps them every few ms. The server's own autocommit writes sequence
 *   themselves as their last act (`write_batch`, migration 5), one write
 *   group of many requests at a time (write-group.ts); its writes inside
 *   longer transactions are sequenced right after commit, before acknowledging.
 * - Sequencing and feed functions run with `jit = off` and plans that need no
 *   fresh statistics (migration 4); the server vacuums the `open_tx` queue
 *   itself, so nothing depends on autovacuum (sequencer.ts).
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
  {
    version: 2,
    name: 'table collections: capture of existing SQL tables, old row values in the change log',
    sql: (s) => `
-- For changes of table rows: an update's old values of the columns it changed,
-- or a deleted row. Routing reads it ("old or new row"); it never leaves the server.
ALTER TABLE ${s}.changes ADD COLUMN old_data jsonb;
-- Inserts into tables are logged one row per statement: the keys, in order; the
-- row covers ords (ord - cardinality(ids), ord]; data is read from the table.
ALTER TABLE ${s}.changes ADD COLUMN ids text[];

-- Versions of table rows (tables have no version column of their own): absent
-- means 1. Only rows that were updated have an entry, so inserts cost nothing here.
CREATE TABLE ${s}.row_versions (
  collection text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  version integer NOT NULL,
  PRIMARY KEY (collection, id)
);

DROP FUNCTION ${s}.changes_after(bigint, integer);
CREATE FUNCTION ${s}.changes_after(since bigint, lim integer)
RETURNS TABLE (pos bigint, collection text, doc_id text, type text, data jsonb, version integer, vclock jsonb,
               op_id text, client_id text, source text, committed_at timestamptz, old_data jsonb)
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
      SELECT c.first_position + e.o - 1, ch.collection, e.id, ch.type, ch.data, ch.version, ch.vclock,
             ch.op_id, ch.client_id, ch.source, c.committed_at, ch.old_data
      FROM ${s}.changes ch
      CROSS JOIN LATERAL (
        SELECT ch.ord AS o, ch.doc_id AS id WHERE ch.ids IS NULL
        UNION ALL
        SELECT ch.ord - cardinality(ch.ids) + u.i::integer, u.id FROM unnest(ch.ids) WITH ORDINALITY AS u(id, i)
        WHERE ch.ids IS NOT NULL
      ) e
      WHERE ch.tx = c.tx AND ch.ord > since - c.first_position + 1 AND e.o > since - c.first_position + 1
      ORDER BY ch.ord, e.o
      LIMIT remaining;
    GET DIAGNOSTICS n = ROW_COUNT;
    remaining := remaining - n;
    EXIT WHEN remaining <= 0;
  END LOOP;
END $fn$;

-- Document updates: an API write that leaves the data as it was still gives it
-- a new version, and that is a change too (migration 1 skipped it, so the
-- writing transaction had nothing to sequence and its acknowledgement failed).
-- The change also keeps old values, as table changes do, for read rules (a
-- document leaving a reader's reach becomes a delete for that reader): for an
-- update, the top-level fields whose value changed (JSON null for a field the
-- update added); for a delete, the data as it was.
CREATE OR REPLACE FUNCTION ${s}.capture_update() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n0 integer := ${s}.pending_count();
  api boolean := ${s}.is_api();
  cnt integer;
BEGIN
  INSERT INTO ${s}.changes (tx, ord, collection, doc_id, type, data, version, vclock, op_id, client_id, source, old_data)
  SELECT pg_current_xact_id(), n0 + row_number() OVER (),
         coalesce(n.collection, o.collection), coalesce(n.id, o.id),
         CASE WHEN n.id IS NULL OR n.deleted THEN 'delete'
              WHEN o.id IS NULL OR o.deleted THEN 'insert'
              ELSE 'update' END,
         CASE WHEN n.id IS NULL OR n.deleted THEN NULL ELSE n.data END,
         coalesce(n.version, o.version + 1), coalesce(n.vclock, o.vclock),
         CASE WHEN api THEN n.op_id END, CASE WHEN api THEN n.client_id END,
         CASE WHEN api THEN 'api' ELSE 'database' END,
         CASE WHEN o.id IS NULL OR o.deleted THEN NULL
              WHEN n.id IS NULL OR n.deleted THEN o.data
              WHEN n.data = o.data THEN NULL
              ELSE (SELECT jsonb_object_agg(k, coalesce(o.data -> k, 'null'::jsonb))
                    FROM (SELECT jsonb_object_keys(o.data) UNION SELECT jsonb_object_keys(n.data)) AS keys(k)
                    WHERE o.data -> k IS DISTINCT FROM n.data -> k) END
  FROM new_rows n
  FULL JOIN old_rows o ON o.collection = n.collection AND o.id = n.id
  WHERE CASE
    WHEN n.id IS NULL THEN NOT o.deleted
    WHEN o.id IS NULL THEN true
    ELSE NOT (o.deleted AND n.deleted)
         AND (n.deleted <> o.deleted OR n.data IS DISTINCT FROM o.data OR n.version <> o.version)
  END;
  GET DIAGNOSTICS cnt = ROW_COUNT;
  PERFORM ${s}.note_changes(n0, cnt);
  RETURN NULL;
END $fn$;

-- A document deleted in SQL keeps its data as old values too.
CREATE OR REPLACE FUNCTION ${s}.capture_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n0 integer := ${s}.pending_count();
  cnt integer;
BEGIN
  INSERT INTO ${s}.changes (tx, ord, collection, doc_id, type, data, version, vclock, op_id, client_id, source, old_data)
  SELECT pg_current_xact_id(), n0 + row_number() OVER (), o.collection, o.id, 'delete', NULL,
         o.version + 1, o.vclock, NULL, NULL, CASE WHEN ${s}.is_api() THEN 'api' ELSE 'database' END, o.data
  FROM old_rows o
  WHERE NOT o.deleted;
  GET DIAGNOSTICS cnt = ROW_COUNT;
  PERFORM ${s}.note_changes(n0, cnt);
  RETURN NULL;
END $fn$;

-- Operation id and client of an API write on a table (set by the server before each statement).
CREATE FUNCTION ${s}.api_writer(what text) RETURNS text LANGUAGE sql STABLE AS $fn$
  SELECT CASE WHEN ${s}.is_api() THEN nullif(current_setting('${s}.' || what, true), '') END
$fn$;

-- Capture of a watched table: TG_ARGV[0] is the collection, TG_ARGV[1] the primary key column.
-- Inserts are captured by a function generated per table (pg-tables.ts), which
-- names the key column directly: one change-log row per statement holding the
-- keys, in ords n0+1 .. n0+count; the rows are read from the table when the
-- change is read (copying every inserted row cost more than the insert itself).

-- Every updated row is a change (as a row trigger would see it). Rows are
-- paired by key: a key that changed is a delete of the old key and an insert of the new.
CREATE FUNCTION ${s}.capture_table_update() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n0 integer := ${s}.pending_count();
  coll text := TG_ARGV[0];
  pk text := TG_ARGV[1];
  cnt integer;
BEGIN
  WITH o AS (SELECT to_jsonb(o.*) AS j FROM old_rows o),
  n AS (SELECT to_jsonb(n.*) AS j FROM new_rows n),
  pairs AS (
    SELECT o.j AS oj, n.j AS nj, coalesce(n.j ->> pk, o.j ->> pk) AS id
    FROM o FULL JOIN n ON (o.j ->> pk) = (n.j ->> pk)
  ),
  bumped AS (
    INSERT INTO ${s}.row_versions AS v (collection, id, version)
    SELECT coll, p.id, 2 FROM pairs p WHERE p.oj IS NOT NULL AND p.nj IS NOT NULL
    ON CONFLICT (collection, id) DO UPDATE SET version = v.version + 1
    RETURNING v.id, v.version
  ),
  gone AS (
    DELETE FROM ${s}.row_versions v WHERE v.collection = coll AND v.id IN (SELECT p.id FROM pairs p WHERE p.nj IS NULL)
    RETURNING v.id, v.version
  )
  INSERT INTO ${s}.changes (tx, ord, collection, doc_id, type, data, version, vclock, op_id, client_id, source, old_data)
  SELECT pg_current_xact_id(), n0 + row_number() OVER (), coll, p.id,
         CASE WHEN p.nj IS NULL THEN 'delete' WHEN p.oj IS NULL THEN 'insert' ELSE 'update' END,
         p.nj,
         CASE WHEN p.nj IS NULL THEN coalesce(g.version, 1) + 1 WHEN p.oj IS NULL THEN 1 ELSE b.version END,
         '{}', ${s}.api_writer('op'), ${s}.api_writer('client'), CASE WHEN ${s}.is_api() THEN 'api' ELSE 'database' END,
         CASE WHEN p.nj IS NULL THEN p.oj
              WHEN p.oj IS NULL THEN NULL
              ELSE (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') FROM jsonb_each(p.oj) e
                    WHERE e.value IS DISTINCT FROM p.nj -> e.key) END
  FROM pairs p LEFT JOIN bumped b ON b.id = p.id LEFT JOIN gone g ON g.id = p.id;
  GET DIAGNOSTICS cnt = ROW_COUNT;
  PERFORM ${s}.note_changes(n0, cnt);
  RETURN NULL;
END $fn$;

CREATE FUNCTION ${s}.capture_table_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n0 integer := ${s}.pending_count();
  coll text := TG_ARGV[0];
  pk text := TG_ARGV[1];
  cnt integer;
BEGIN
  WITH o AS (SELECT to_jsonb(o.*) AS j FROM old_rows o),
  gone AS (
    DELETE FROM ${s}.row_versions v WHERE v.collection = coll AND v.id IN (SELECT o.j ->> pk FROM o)
    RETURNING v.id, v.version
  )
  INSERT INTO ${s}.changes (tx, ord, collection, doc_id, type, data, version, vclock, op_id, client_id, source, old_data)
  SELECT pg_current_xact_id(), n0 + row_number() OVER (), coll, o.j ->> pk, 'delete', NULL, coalesce(g.version, 1) + 1, '{}',
         ${s}.api_writer('op'), ${s}.api_writer('client'), CASE WHEN ${s}.is_api() THEN 'api' ELSE 'database' END, o.j
  FROM o LEFT JOIN gone g ON g.id = o.j ->> pk;
  GET DIAGNOSTICS cnt = ROW_COUNT;
  PERFORM ${s}.note_changes(n0, cnt);
  RETURN NULL;
END $fn$;

-- TRUNCATE has no transition table: every row is recorded as deleted before it goes.
CREATE FUNCTION ${s}.capture_table_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n0 integer := ${s}.pending_count();
  coll text := TG_ARGV[0];
  pk text := TG_ARGV[1];
  cnt integer;
BEGIN
  EXECUTE format(
    'INSERT INTO ${s}.changes (tx, ord, collection, doc_id, type, data, version, vclock, op_id, client_id, source, old_data)
     SELECT pg_current_xact_id(), $1 + row_number() OVER (), $2, r.j ->> $3, ''delete'', NULL,
            coalesce(v.version, 1) + 1, ''{}'', NULL, NULL, ''database'', r.j
     FROM (SELECT to_jsonb(t.*) AS j FROM %s t) r
     LEFT JOIN ${s}.row_versions v ON v.collection = $2 AND v.id = r.j ->> $3', TG_RELID::regclass)
  USING n0, coll, pk;
  GET DIAGNOSTICS cnt = ROW_COUNT;
  DELETE FROM ${s}.row_versions WHERE collection = coll;
  PERFORM ${s}.note_changes(n0, cnt);
  RETURN NULL;
END $fn$;
`,
  },
  {
    version: 3,
    name: 'operation ids scoped to their caller: the operation log keyed by (scope, id) with body fingerprints; client id owners',
    sql: (s) => `
-- scope: 'u:<user id>', or for an anonymous caller (open mode) 'c:<client id>' (operation-scope.ts).
-- Rows logged before get the scope of the client that wrote them (no user was recorded).
ALTER TABLE ${s}.operations ADD COLUMN scope text COLLATE "C", ADD COLUMN fingerprint text;
UPDATE ${s}.operations SET scope = 'c:' || client_id;
ALTER TABLE ${s}.operations ALTER COLUMN scope SET NOT NULL, DROP CONSTRAINT operations_pkey, ADD PRIMARY KEY (scope, id);

-- The first authenticated user that used a client id owns it; another user is refused (CLIENT_ID_TAKEN).
CREATE TABLE ${s}.client_owners (
  client_id text COLLATE "C" PRIMARY KEY,
  owner text COLLATE "C" NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
`,
  },
  // Version 3 is the operation log's (another change); 4 may be applied before it on a database.
  {
    version: 4,
    name: 'external commits sequenced by the server, not at their own commit; sequencing without JIT',
    sql: (s) => `
-- A transaction of another program no longer sequences itself at commit: the
-- deferred trigger took the positions lock and sent a NOTIFY inside that
-- transaction's commit, so the application's commits ran one at a time
-- (issue 14: 0.004-0.3x of an unwatched table). The server's sweep sequences
-- them after they commit (sequencer.ts); markers already in open_tx keep working.
DROP TRIGGER IF EXISTS assign_positions ON ${s}.open_tx;
DROP FUNCTION IF EXISTS ${s}.assign_positions();

-- open_tx is a queue (a row in, a row out per transaction): vacuum it early when
-- autovacuum runs (the server also vacuums it itself, see sequencer.ts).
ALTER TABLE ${s}.open_tx SET (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0,
                               autovacuum_analyze_threshold = 1000, autovacuum_analyze_scale_factor = 0);

-- Plans that cannot fall off a cliff: a bloated or never-analyzed queue made the
-- planner's estimate cross jit_above_cost (200-400 ms of JIT compilation per call,
-- with nothing pending). Every lookup of the feed has an index made for it
-- (commits (last_position), changes (tx, ord)); forbidding sequential scans there
-- keeps it so whatever the statistics or a cached generic plan would choose
-- (a generic plan of "last_position > $1" guesses a third of the table).
ALTER FUNCTION ${s}.sequence_pending() SET jit = off;
ALTER FUNCTION ${s}.sequence(xid8[]) SET jit = off;
ALTER FUNCTION ${s}.changes_after(bigint, integer) SET jit = off;
ALTER FUNCTION ${s}.changes_after(bigint, integer) SET enable_seqscan = off;
`,
  },
  {
    version: 5,
    name: "the server's document writes in one function that can sequence the transaction before it commits",
    sql: (s) => `
-- The server's write of documents and its operation log (write-statement.ts),
-- one round trip. With sequence_now (autocommit writes: write groups and other
-- unlocked attempts, see write-group.ts), the transaction sequences itself as
-- its last act: it takes the positions lock only after its writes, holds it
-- through its own commit (so positions still become visible in order) and
-- returns its position. A write used to commit, then wait for a sequencing
-- transaction of its own: two commits, one of them serialized, per write.
-- Other callers (an open /sendActions transaction, a locking attempt) pass
-- false and are sequenced after commit (sequencer.ts). Every count must match
-- or the whole write aborts with SYR01 (a concurrent write raced it: retry).
CREATE FUNCTION ${s}.write_batch(
  i_collection text[], i_id text[], i_data jsonb[], i_version integer[], i_vclock jsonb[], i_deleted boolean[],
  i_op_id text[], i_client_id text[],
  u_collection text[], u_id text[], u_data jsonb[], u_version integer[], u_vclock jsonb[], u_deleted boolean[],
  u_op_id text[], u_client_id text[], u_prev_version integer[],
  l_scope text[], l_id text[], l_client_id text[], l_collection text[], l_doc_id text[], l_type text[], l_status text[],
  l_result jsonb[], l_fingerprint text[],
  sequence_now boolean, lock_wait_ms integer)
RETURNS TABLE (tx text, collection text, doc_id text, pos bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  n bigint;
  wrote boolean := false;
BEGIN
  -- The API's transaction (the capture triggers record operation and client ids).
  PERFORM set_config('${s}.api', 'on', true);
  -- A write group waits briefly for row locks; its requests retry alone (write-group.ts).
  IF lock_wait_ms IS NOT NULL THEN
    PERFORM set_config('lock_timeout', lock_wait_ms::text, true);
  END IF;
  IF cardinality(i_id) > 0 THEN
    INSERT INTO ${s}.documents (collection, id, data, version, vclock, deleted, op_id, client_id)
    SELECT * FROM unnest(i_collection, i_id, i_data, i_version, i_vclock, i_deleted, i_op_id, i_client_id)
    ON CONFLICT (collection, id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(i_id) THEN
      RAISE EXCEPTION 'a concurrent write touched the same documents' USING ERRCODE = 'SYR01';
    END IF;
    wrote := true;
  END IF;
  IF cardinality(u_id) > 0 THEN
    UPDATE ${s}.documents d SET data = x.data, version = x.version, vclock = x.vclock, deleted = x.deleted,
      op_id = x.op_id, client_id = x.client_id, updated_at = now()
    FROM unnest(u_collection, u_id, u_data, u_version, u_vclock, u_deleted, u_op_id, u_client_id, u_prev_version)
      AS x(collection, id, data, version, vclock, deleted, op_id, client_id, prev_version)
    WHERE d.collection = x.collection AND d.id = x.id AND d.version = x.prev_version;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(u_id) THEN
      RAISE EXCEPTION 'a concurrent write touched the same documents' USING ERRCODE = 'SYR01';
    END IF;
    wrote := true;
  END IF;
  IF cardinality(l_id) > 0 THEN
    INSERT INTO ${s}.operations (scope, id, client_id, collection, doc_id, type, status, result, fingerprint)
    SELECT * FROM unnest(l_scope, l_id, l_client_id, l_collection, l_doc_id, l_type, l_status, l_result, l_fingerprint)
    ON CONFLICT (scope, id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(l_id) THEN
      RAISE EXCEPTION 'a concurrent write logged the same operations' USING ERRCODE = 'SYR01';
    END IF;
  END IF;
  IF NOT wrote THEN
    RETURN;
  END IF;
  IF sequence_now THEN
    PERFORM ${s}.sequence_pending();
    -- Each document's own position (requests of a group share the commit, not positions).
    RETURN QUERY SELECT c.tx::text, ch.collection::text, ch.doc_id::text, c.first_position + ch.ord - 1
      FROM ${s}.commits c JOIN ${s}.changes ch ON ch.tx = c.tx WHERE c.tx = pg_current_xact_id();
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  RETURN QUERY SELECT pg_current_xact_id()::text, NULL::text, NULL::text, NULL::bigint;
END $fn$;
-- Plans that need no fresh statistics (see migration 4): the key lookups of the
-- update and of sequencing stay index lookups however stale documents' statistics are.
ALTER FUNCTION ${s}.write_batch(text[], text[], jsonb[], integer[], jsonb[], boolean[], text[], text[],
  text[], text[], jsonb[], integer[], jsonb[], boolean[], text[], text[], integer[],
  text[], text[], text[], text[], text[], text[], text[], jsonb[], text[], boolean, integer) SET jit = off;
ALTER FUNCTION ${s}.write_batch(text[], text[], jsonb[], integer[], jsonb[], boolean[], text[], text[],
  text[], text[], jsonb[], integer[], jsonb[], boolean[], text[], text[], integer[],
  text[], text[], text[], text[], text[], text[], text[], jsonb[], text[], boolean, integer) SET enable_seqscan = off;
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

/**
 * `npm run bench`: Syncline against raw database baselines measured in the same run.
 *
 *   push (PostgreSQL)  8 clients POST /operations (100 inserts each) vs raw pg batched INSERTs   target ratio ≥ 0.6
 *   push-single  (issue 14, bench/push-single.ts) 8 and 32 writers, one operation per request, POST /operations
 *           and /sync push, vs raw single-row INSERT transactions through pg at the same concurrency: ratio ≥ 0.5
 *   pull (PostgreSQL)  one client pages POST /changes over 200k changes vs raw keyset SELECTs   target ratio ≥ 0.5
 *   push / pull (PGlite)  the same on embedded PGlite (informational)
 *   fanout  1k and 5k sockets subscribed on /sync (a separate client process) while one writer POSTs
 *           single inserts at 100 and 1,000/s, vs a bare Socket.IO server io.emit-ing the same frames:
 *           deliveries/s ≥ 1.0× baseline; commit-to-delivery p99 ≤ 1.5× baseline p99 + 10 ms;
 *           every client must get every change exactly once, gap-free
 *   memory  server RSS per idle subscribed /sync connection at 5k connections (PGlite) vs a bare
 *           Socket.IO server's per idle connection: ≤ 15 KiB
 *   capture-latency  (issue 4, bench/capture.ts) another program INSERTs single rows (own transaction each)
 *           at 100 and 1,000/s into a TABLE_NAMES table; 10 /sync subscribers (a separate process) measure
 *           receive − the writer's send time, vs esink's way done raw (row trigger pg_notify of the row
 *           JSON → LISTEN → io.emit on a bare Socket.IO server): Syncline p99 ≤ 30 ms (absolute);
 *           every subscriber must get every change exactly once, gap-free
 *   capture-ingest  INSERTs into a table watched by a running Syncline server vs an identical unwatched one,
 *           alternating rounds: single-row transactions at 1, 8, 32 writers, 100-row batches at 8, transactions
 *           of 10 statements at 8 (--capture-churn=N: after churning N markers through open_tx): ratio ≥ 0.9
 *   capture-ingest-mysql  capture-ingest's shapes on MariaDB/MySQL (watched ÷ unwatched ≥ 0.8)
 *   capture-mysql  as capture-latency on MariaDB/MySQL at 100 writes/s vs a raw poller of a trigger-fed
 *           table at the same interval: p99 ≤ MYSQL_POLL_INTERVAL_MS (250) + 20 ms; reports "could not
 *           run" when the server build has no MySQL adapter
 *   routing  (issue 5, bench/routing.ts) 5,000 users (a separate client process), each with its own JWT,
 *           subscribed {collection: 'notes'} under the rule read {field: 'owner'}; one writer inserts
 *           1,000 rows/s, row k owned by user k mod 5,000 → deliveries/s, p50/p99, server CPU per write,
 *           vs the same workload under a "*" rule with each user subscribed filter {owner: its id}:
 *           routed deliveries/s ≥ 0.8× unrouted; every user must get exactly its own rows, once, gap-free
 *   cluster  (issue 6, bench/cluster.ts) per bus (Redis, NATS, RabbitMQ, PostgreSQL): 2 server processes on
 *           one schema; one writer inserts 1,000 rows/s on A (10 per POST); a /sync subscriber on A (single-instance
 *           baseline) and one on B (over the bus) measure receive − the change's commit timestamp on the
 *           same writes: B's p99 ≤ A's p99 + 5 ms; every subscriber must get every change exactly once, gap-free
 *   client-live  (issue 15, bench/client-live.ts) 10 live queries (sorted, limited) open on 100,000 local documents vs
 *           1,000: POST a patch → every callback shows it; large ÷ small ≤ 2× (flat in n)
 *   client-scope  (issue 15, bench/client-scope.ts) sync of collection(name, {where: {category: 7}}), 1,000 of
 *           100,000 documents, vs a 1,000-document collection, createClient → whenSynced: ≤ 1.5×
 *   demo-scale  (issue 15, bench/demo-scale.ts) the market demo in Chromium (PGlite, in this process) with 20,000
 *           products vs 60: time to first rows, to a usable page (rows shown, an Edit click opened its form),
 *           edit in page A → visible in page B p50/p99, opening the edit form: each ≤ 1.5× the 60-product figure;
 *           the time until every product is synced is information
 *   client-bundle  (issue 16, bench/bundle-size.ts) createClient + MemoryStore + IndexedDBStore bundled for the
 *           browser (esbuild, minified) and gzipped, vs socket.io-client alone: ≤ 50 KB gzipped (also a test)
 *
 * Prints a table and writes bench/results/latest.json. Exit code 0 even when a
 * target is missed; 1 when a correctness check fails (or a scenario cannot run).
 *
 * Options (after `npm run bench --`):
 *   --push-single-writers=8,32   writer counts of push-single (its measure window: --measure, at most 5 s)
 *   --only=push-pg,push-single,pull-pg,push-pglite,pull-pglite,fanout,memory,capture-latency,capture-ingest,capture-ingest-mysql,capture-mysql,routing,cluster,
 *                      client-sync,client-live,client-scope,demo-scale,client-bundle   run a subset
 *   --cpu-prof[=DIR]   write V8 CPU profiles of the server children (default bench/results/profiles)
 *   --measure=SECONDS  PostgreSQL push measurement window (default 8; warm-up 2)
 *   --server-cli=PATH  benchmark another build of the server (default packages/server/dist/cli.js)
 *   --fanout-clients=1000,5000  --fanout-rates=100,1000  --fanout-measure=SECONDS (default 5; warm-up 1)
 *   --capture-churn=100000  capture-ingest and push-single: churn open_tx first (autovacuum off on it)
 *   --capture-rates=100,1000  --capture-subscribers=10  --capture-measure=SECONDS (default 5; warm-up 1;
 *                      capture-ingest: per round, 2 rounds per table)
 *   --routing-users=5000  --routing-rate=1000  --routing-measure=SECONDS (default 5; warm-up 1)
 *   --cluster-buses=redis,nats,amqp,postgres  --cluster-size=2  --cluster-rate=1000  --cluster-batch=10 (inserts
 *                      per POST)  --cluster-subscribers=1 (per instance)
 *   --cluster-serializer=json|msgpack  --cluster-measure=SECONDS (default 5; warm-up 1); bus services from
 *                      TEST_REDIS_URL, TEST_NATS_URL, TEST_AMQP_URL (test/services.ts); the cluster always runs
 *                      packages/server/dist/cli.js (not --server-cli) and drops its schema (not --keep)
 *   --client-sync-docs=100000  --client-sync-page-sizes=500 (the first carries the target; the SDK's default)
 *   --client-sync-rounds=3 (measured baseline/MemoryStore and baseline/IndexedDBStore rounds, median reported)
 *   --client-live-docs=1000,100000 (baseline and measured collection sizes)  --client-live-rounds=30
 *   --client-scope-docs=100000 (the scoped collection; 1% match)  --client-scope-rounds=5
 *   --demo-scale-products=60,20000 (baseline and measured)  --demo-scale-loads=3  --demo-scale-edits=30
 *   --keep             keep the bench schemas/tables afterwards (bench_push, bench_pull, bench_raw_*, bench_fanout,
 *                      bench_capture, bench_capture_sl, bench_routing_*, bench_client_sync, bench_client_live, bench_client_scope; MariaDB database bench_capture)
 * Investigating a miss: `--cpu-prof`, then `node --import tsx bench/profile-summary.ts FILE.cpuprofile`;
 * latest.json has CPU per operation/page for the bench, the server and PostgreSQL, and WAL bytes per op.
 * Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); capture-mysql:
 * BENCH_MYSQL_HOST (127.0.0.1), BENCH_MYSQL_PORT (3306), BENCH_MYSQL_USER (root), BENCH_MYSQL_PASSWORD ('').
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clientBundle } from './bundle-size.js';
import { type CaptureConfig, captureIngest, captureIngestMysql, captureLatency, captureMysql } from './capture.js';
import { type ClientLiveConfig, clientLive } from './client-live.js';
import { type ClientScopeConfig, clientScope } from './client-scope.js';
import { type ClientSyncConfig, clientSync } from './client-sync.js';
import { BUS_KINDS, type BusKind, type ClusterConfig, cluster } from './cluster.js';
import { type DemoScaleConfig, demoScale } from './demo-scale.js';
import { type FanoutConfig, fanout, type MemoryConfig, memory } from './fanout.js';
import { backgroundLoad, CLI, ROOT, setServerCli } from './harness.js';
import { cleanupPgliteDirs, type PgliteBenchConfig, pullPglite, pushPglite } from './pglite.js';
import { type PgBenchConfig, pullPostgres, pushPostgres } from './postgres.js';
import { type PushSingleConfig, pushSingle } from './push-single.js';
import { failed, printTable, type Result, writeJson } from './report.js';
import { type RoutingConfig, routing } from './routing.js';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    'cpu-prof': { type: 'string' },
    measure: { type: 'string' },
    'server-cli': { type: 'string' },
    keep: { type: 'boolean', default: false },
    'fanout-clients': { type: 'string' },
    'fanout-rates': { type: 'string' },
    'fanout-measure': { type: 'string' },
    'capture-rates': { type: 'string' },
    'capture-subscribers': { type: 'string' },
    'capture-measure': { type: 'string' },
    'capture-churn': { type: 'string' },
    'routing-users': { type: 'string' },
    'routing-rate': { type: 'string' },
    'routing-measure': { type: 'string' },
    'cluster-buses': { type: 'string' },
    'cluster-size': { type: 'string' },
    'cluster-rate': { type: 'string' },
    'cluster-subscribers': { type: 'string' },
    'cluster-batch': { type: 'string' },
    'cluster-serializer': { type: 'string' },
    'cluster-measure': { type: 'string' },
    'client-sync-docs': { type: 'string' },
    'client-sync-page-sizes': { type: 'string' },
    'client-sync-rounds': { type: 'string' },
    'client-live-docs': { type: 'string' },
    'client-live-rounds': { type: 'string' },
    'client-scope-docs': { type: 'string' },
    'client-scope-rounds': { type: 'string' },
    'push-single-writers': { type: 'string' },
    'demo-scale-products': { type: 'string' },
    'demo-scale-loads': { type: 'string' },
    'demo-scale-edits': { type: 'string' },
  },
  allowPositionals: false,
  strict: true,
  // `--cpu-prof` alone means the default folder.
  args: process.argv.slice(2).map((a) => (a === '--cpu-prof' ? '--cpu-prof=' : a)),
});

const log = (msg: string) => process.stderr.write(`${msg}\n`);
if (args['server-cli']) setServerCli(args['server-cli']);
const cpuProfDir = args['cpu-prof'] === undefined ? undefined : args['cpu-prof'] || join(ROOT, 'bench/results/profiles');
const measureS = Number(args.measure ?? 8);
const numbers = (list: string) =>
  list.split(',').map((x) => {
    const v = Number(x);
    if (!(v > 0)) throw new Error(`expected a list of positive numbers, got ${list}`);
    return v;
  });
if (!(measureS > 0)) throw new Error(`--measure must be a positive number of seconds`);

const pgCfg: PgBenchConfig = {
  databaseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  clients: 8,
  batch: 100,
  warmupMs: 2000,
  measureMs: measureS * 1000,
  pullChanges: 200_000,
  pullLimit: 1000,
  keep: args.keep === true,
  log,
  ...(cpuProfDir ? { cpuProfDir } : {}),
};
const pgliteCfg: PgliteBenchConfig = {
  clients: 8,
  batch: 100,
  warmupMs: 1000,
  measureMs: 5000,
  pullChanges: 50_000,
  pullLimit: 1000,
  seedBatch: 1000,
  log,
  ...(cpuProfDir ? { cpuProfDir } : {}),
};
const fanoutCfg: FanoutConfig = {
  databaseUrl: pgCfg.databaseUrl,
  clients: numbers(args['fanout-clients'] ?? '1000,5000'),
  rates: numbers(args['fanout-rates'] ?? '100,1000'),
  warmupMs: 1000,
  measureMs: Number(args['fanout-measure'] ?? 5) * 1000,
  graceMs: 250,
  drainMs: 60_000,
  keep: args.keep === true,
  log,
  ...(cpuProfDir ? { cpuProfDir } : {}),
};
const captureCfg: CaptureConfig = {
  databaseUrl: pgCfg.databaseUrl,
  rates: numbers(args['capture-rates'] ?? '100,1000'),
  subscribers: numbers(args['capture-subscribers'] ?? '10')[0] as number,
  warmupMs: 1000,
  measureMs: numbers(args['capture-measure'] ?? '5')[0]! * 1000,
  drainMs: 60_000,
  ingestClients: 8,
  ingestBatch: 100,
  ingestRounds: 2,
  ingestChurn: Number(args['capture-churn'] ?? 0),
  mysql: {
    host: process.env.BENCH_MYSQL_HOST || '127.0.0.1',
    port: Number(process.env.BENCH_MYSQL_PORT || 3306),
    user: process.env.BENCH_MYSQL_USER || 'root',
    password: process.env.BENCH_MYSQL_PASSWORD ?? '',
    database: 'bench_capture',
  },
  mysqlRate: 100,
  pollMs: 250,
  keep: args.keep === true,
  log,
  ...(cpuProfDir ? { cpuProfDir } : {}),
};
const routingCfg: RoutingConfig = {
  databaseUrl: pgCfg.databaseUrl,
  users: numbers(args['routing-users'] ?? '5000')[0] as number,
  rate: numbers(args['routing-rate'] ?? '1000')[0] as number,
  warmupMs: 1000,
  measureMs: (numbers(args['routing-measure'] ?? '5')[0] as number) * 1000,
  drainMs: 60_000,
  keep: args.keep === true,
  log,
  ...(cpuProfDir ? { cpuProfDir } : {}),
};
const clusterBuses = (args['cluster-buses'] ?? BUS_KINDS.join(',')).split(',').map((b) => b.trim());
for (const b of clusterBuses)
  if (!BUS_KINDS.includes(b as BusKind)) throw new Error(`--cluster-buses: unknown bus ${b}; known: ${BUS_KINDS.join(', ')}`);
const clusterSerializer = args['cluster-serializer'] ?? 'json';
if (clusterSerializer !== 'json' && clusterSerializer !== 'msgpack') throw new Error('--cluster-serializer must be json or msgpack');
const clusterCfg: ClusterConfig = {
  databaseUrl: pgCfg.databaseUrl,
  buses: clusterBuses as BusKind[],
  size: numbers(args['cluster-size'] ?? '2')[0] as number,
  rate: numbers(args['cluster-rate'] ?? '1000')[0] as number,
  subscribers: numbers(args['cluster-subscribers'] ?? '1')[0] as number,
  batch: numbers(args['cluster-batch'] ?? '10')[0] as number,
  serializer: clusterSerializer,
  warmupMs: 1000,
  measureMs: (numbers(args['cluster-measure'] ?? '5')[0] as number) * 1000,
  drainMs: 60_000,
  log,
  ...(cpuProfDir ? { cpuProfDir } : {}),
};
const clientSyncCfg: ClientSyncConfig = {
  databaseUrl: pgCfg.databaseUrl,
  documents: numbers(args['client-sync-docs'] ?? '100000')[0] as number,
  pageSizes: numbers(args['client-sync-page-sizes'] ?? '500'),
  rounds: numbers(args['client-sync-rounds'] ?? '3')[0] as number,
  timeoutMs: 300_000,
  keep: args.keep === true,
  log,
  ...(cpuProfDir ? { cpuProfDir } : {}),
};
const clientLiveCfg: ClientLiveConfig = {
  databaseUrl: pgCfg.databaseUrl,
  small: numbers(args['client-live-docs'] ?? '1000,100000')[0] as number,
  large: numbers(args['client-live-docs'] ?? '1000,100000')[1] as number,
  rounds: numbers(args['client-live-rounds'] ?? '30')[0] as number,
  timeoutMs: 300_000,
  keep: args.keep === true,
  log,
  ...(cpuProfDir ? { cpuProfDir } : {}),
};
const clientScopeCfg: ClientScopeConfig = {
  databaseUrl: pgCfg.databaseUrl,
  documents: numbers(args['client-scope-docs'] ?? '100000')[0] as number,
  rounds: numbers(args['client-scope-rounds'] ?? '5')[0] as number,
  timeoutMs: 300_000,
  keep: args.keep === true,
  log,
  ...(cpuProfDir ? { cpuProfDir } : {}),
};
const demoScaleCfg: DemoScaleConfig = {
  small: numbers(args['demo-scale-products'] ?? '60,20000')[0] as number,
  large: numbers(args['demo-scale-products'] ?? '60,20000')[1] as number,
  loads: numbers(args['demo-scale-loads'] ?? '3')[0] as number,
  edits: numbers(args['demo-scale-edits'] ?? '30')[0] as number,
  timeoutMs: 300_000,
  log,
};
const pushSingleCfg: PushSingleConfig = {
  databaseUrl: pgCfg.databaseUrl,
  writers: numbers(args['push-single-writers'] ?? '8,32'),
  warmupMs: 1000,
  measureMs: Math.min(measureS, 5) * 1000,
  keep: args.keep === true,
  churn: Number(args['capture-churn'] ?? 0),
  log,
  ...(cpuProfDir ? { cpuProfDir } : {}),
};
/** Names of the rows measured after churning open_tx (--capture-churn). */
const churnLabel = pushSingleCfg.churn ? ` (open_tx churned ${pushSingleCfg.churn})` : '';
const memoryCfg: MemoryConfig = { clients: 5000, targetKiB: 15, log, ...(cpuProfDir ? { cpuProfDir } : {}) };

interface Scenario {
  key: string;
  name: string;
  unit: string;
  baselineUnit: string;
  target: number | null;
  run: () => Promise<Result | Result[]>;
}
const scenarios: Scenario[] = [
  { key: 'push-pg', name: 'push (PostgreSQL)', unit: 'ops/s', baselineUnit: 'rows/s', target: 0.6, run: () => pushPostgres(pgCfg) },
  {
    key: 'push-single',
    name: 'push-single',
    unit: 'ops/s',
    baselineUnit: 'rows/s',
    target: 0.5,
    run: () => pushSingle(pushSingleCfg, churnLabel),
  },
  { key: 'pull-pg', name: 'pull (PostgreSQL)', unit: 'changes/s', baselineUnit: 'rows/s', target: 0.5, run: () => pullPostgres(pgCfg) },
  { key: 'push-pglite', name: 'push (PGlite)', unit: 'ops/s', baselineUnit: 'rows/s', target: null, run: () => pushPglite(pgliteCfg) },
  { key: 'pull-pglite', name: 'pull (PGlite)', unit: 'changes/s', baselineUnit: 'rows/s', target: null, run: () => pullPglite(pgliteCfg) },
  { key: 'fanout', name: 'fanout', unit: 'deliveries/s', baselineUnit: 'deliveries/s', target: 1.0, run: () => fanout(fanoutCfg) },
  { key: 'memory', name: 'memory per connection', unit: 'KiB', baselineUnit: 'KiB', target: null, run: () => memory(memoryCfg) },
  { key: 'capture-latency', name: 'capture latency', unit: 'ms', baselineUnit: 'ms', target: null, run: () => captureLatency(captureCfg) },
  {
    key: 'capture-ingest',
    name: 'capture-ingest',
    unit: 'rows/s',
    baselineUnit: 'rows/s',
    target: 0.9,
    run: () => captureIngest(captureCfg, undefined, churnLabel),
  },
  { key: 'capture-mysql', name: 'capture mysql', unit: 'ms', baselineUnit: 'ms', target: null, run: () => captureMysql(captureCfg) },
  {
    key: 'capture-ingest-mysql',
    name: 'capture-ingest (MariaDB)',
    unit: 'rows/s',
    baselineUnit: 'rows/s',
    target: 0.8,
    run: () => captureIngestMysql(captureCfg),
  },
  { key: 'routing', name: 'routing', unit: 'deliveries/s', baselineUnit: 'deliveries/s', target: 0.8, run: () => routing(routingCfg) },
  { key: 'cluster', name: 'cluster', unit: 'ms', baselineUnit: 'ms', target: null, run: () => cluster(clusterCfg) },
  {
    key: 'client-sync',
    name: 'client-sync',
    unit: 'docs/s',
    baselineUnit: 'docs/s',
    target: 0.7,
    run: () => clientSync(clientSyncCfg),
  },
  { key: 'client-live', name: 'client-live', unit: 'ms', baselineUnit: 'ms', target: null, run: () => clientLive(clientLiveCfg) },
  { key: 'client-scope', name: 'client-scope', unit: 'ms', baselineUnit: 'ms', target: null, run: () => clientScope(clientScopeCfg) },
  { key: 'demo-scale', name: 'demo-scale', unit: 'ms', baselineUnit: 'ms', target: 1.5, run: () => demoScale(demoScaleCfg) },
  { key: 'client-bundle', name: 'client bundle', unit: 'KB gz', baselineUnit: 'KB gz', target: null, run: clientBundle },
];

const only = args.only
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const k of only ?? []) {
  if (!scenarios.some((s) => s.key === k)) throw new Error(`unknown scenario ${k}; known: ${scenarios.map((s) => s.key).join(', ')}`);
}

const results: Result[] = [];
for (const s of scenarios) {
  if (only && !only.includes(s.key)) continue;
  try {
    const background = await backgroundLoad(1000);
    if (background > 0.25) {
      log(`warning: ${background.toFixed(2)} CPU cores were busy before ${s.name} started (other processes); figures will be noisy`);
    }
    const rs = await s.run();
    for (const r of Array.isArray(rs) ? rs : [rs]) {
      r.details = { ...r.details, backgroundCores: Math.round(background * 100) / 100 };
      results.push(r);
    }
  } catch (err) {
    // Not a wrong answer but the scenario could not run (server did not start, database unreachable…).
    log(`${s.name}: ${(err as Error).stack ?? String(err)}`);
    results.push(failed(s.name, s.unit, s.baselineUnit, s.target, err));
  } finally {
    cleanupPgliteDirs();
  }
}

const table = printTable(results);
process.stdout.write(`\n${table}\n\n`);
const file = writeJson(results, {
  options: {
    postgres: {
      clients: pgCfg.clients,
      batch: pgCfg.batch,
      warmupMs: pgCfg.warmupMs,
      measureMs: pgCfg.measureMs,
      pullChanges: pgCfg.pullChanges,
      pullLimit: pgCfg.pullLimit,
    },
    pglite: {
      clients: pgliteCfg.clients,
      batch: pgliteCfg.batch,
      warmupMs: pgliteCfg.warmupMs,
      measureMs: pgliteCfg.measureMs,
      pullChanges: pgliteCfg.pullChanges,
      pullLimit: pgliteCfg.pullLimit,
    },
    fanout: {
      clients: fanoutCfg.clients,
      rates: fanoutCfg.rates,
      warmupMs: fanoutCfg.warmupMs,
      measureMs: fanoutCfg.measureMs,
      graceMs: fanoutCfg.graceMs,
    },
    memory: { clients: memoryCfg.clients, targetKiB: memoryCfg.targetKiB },
    capture: {
      rates: captureCfg.rates,
      subscribers: captureCfg.subscribers,
      warmupMs: captureCfg.warmupMs,
      measureMs: captureCfg.measureMs,
      ingest: { clients: captureCfg.ingestClients, batch: captureCfg.ingestBatch, rounds: captureCfg.ingestRounds },
      mysql: { rate: captureCfg.mysqlRate, pollMs: captureCfg.pollMs, database: captureCfg.mysql.database },
    },
    routing: { users: routingCfg.users, rate: routingCfg.rate, warmupMs: routingCfg.warmupMs, measureMs: routingCfg.measureMs },
    cluster: {
      buses: clusterCfg.buses,
      size: clusterCfg.size,
      rate: clusterCfg.rate,
      subscribers: clusterCfg.subscribers,
      batch: clusterCfg.batch,
      serializer: clusterCfg.serializer,
      warmupMs: clusterCfg.warmupMs,
      measureMs: clusterCfg.measureMs,
    },
    clientSync: { documents: clientSyncCfg.documents, pageSizes: clientSyncCfg.pageSizes, rounds: clientSyncCfg.rounds },
    clientLive: { small: clientLiveCfg.small, large: clientLiveCfg.large, rounds: clientLiveCfg.rounds },
    clientScope: { documents: clientScopeCfg.documents, rounds: clientScopeCfg.rounds },
    demoScale: { small: demoScaleCfg.small, large: demoScaleCfg.large, loads: demoScaleCfg.loads, edits: demoScaleCfg.edits },
    ...(only ? { only } : {}),
  },
  server: CLI,
});
process.stdout.write(`wrote ${file}${cpuProfDir ? `; CPU profiles in ${cpuProfDir}` : ''}\n`);
const broken = results.filter((r) => r.error);
if (broken.length > 0) {
  process.stderr.write(`${broken.length} scenario(s) failed a correctness check or could not run\n`);
  process.exitCode = 1;
}

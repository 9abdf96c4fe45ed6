/**
 * Several real Syncline server processes (`packages/server/dist/cli.js serve`)
 * on one PostgreSQL schema, joined by a bus reached through a TCP proxy that
 * the test can stop and start again, as if the bus went down and came back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { postgresUrl, uniqueSchema } from '../../../test/services.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** A TCP proxy to a service that can be stopped (every connection reset, new ones refused) and started again on the same port. */
export class StoppableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  static async to(url: string, defaultPort: number): Promise<StoppableProxy> {
    const u = new URL(url);
    const p = new StoppableProxy(u.hostname, Number(u.port || defaultPort));
    await p.start();
    return p;
  }

  /** `url` pointing at the proxy. */
  url(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect({ host: this.host, port: this.targetPort });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.resetAndDestroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export interface Instance {
  url: string;
  process: ChildProcess;
  log: string[];
}

export interface Cluster {
  instances: Instance[];
  schema: string;
  /** Starts one more instance (e.g. after one was killed). */
  add(): Promise<Instance>;
  kill(i: number): Promise<void>;
  close(): Promise<void>;
}

export interface ClusterOptions {
  busUrl: string;
  busName: string;
  serializer?: 'json' | 'msgpack';
  size?: number;
  env?: Record<string, string>;
}

async function startInstance(env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance did not start in 30 s:\n${log.join('')}`)), 30_000);
    const onLine = (chunk: Buffer) => {
      const text = chunk.toString();
      log.push(text);
      if (log.length > 500) log.shift();
      const m = text.match(/Syncline listening on (http:\/\/[0-9.:]+)/);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onLine);
    child.stderr?.on('data', onLine);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`instance exited with ${code}:\n${log.join('')}`));
    });
  });
  return { url, process: child, log };
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const schema = uniqueSchema('cluster');
  const env: Record<string, string> = {
    DATABASE_URL: postgresUrl,
    SYNCLINE_SCHEMA: schema,
    HOST: '127.0.0.1',
    PORT: '0',
    BUS_URL: opts.busUrl,
    BUS_NAME: opts.busName,
    BUS_SERIALIZER: opts.serializer ?? 'json',
    LOG_LEVEL: 'info',
    SYNCLINE_LOG_REQUESTS: 'false',
    ...opts.env,
  };
  const instances: Instance[] = [];
  const cluster: Cluster = {
    instances,
    schema,
    async add() {
      const i = await startInstance(env);
      instances.push(i);
      return i;
    },
    async kill(i) {
      const p = instances[i]?.process;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    },
    async close() {
      await Promise.all(
        instances.map(async (inst) => {
          if (inst.process.exitCode !== null || inst.process.signalCode !== null) return;
          const exited = new Promise((r) => inst.process.once('exit', r));
          inst.process.kill('SIGTERM');
          const timer = setTimeout(() => inst.process.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }),
      );
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
  try {
    // The first one migrates; the others start on the migrated schema together.
    await cluster.add();
    await Promise.all(Array.from({ length: (opts.size ?? 3) - 1 }, () => cluster.add()));
  } catch (err) {
    await cluster.close().catch(() => {});
    throw err;
  }
  return cluster;
}

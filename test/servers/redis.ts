/**
 * Debian's redis-server for tests and benchmarks: one standalone server, or a cluster of
 * three masters joined with `redis-cli --cluster create`. Nothing is kept on disk beyond a
 * temp directory removed on stop.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ManagedProcess } from './managed-process.js';

export interface RunningServer {
  /** The storage URL that reaches it (without an aft prefix). */
  readonly url: string;
  stop(): Promise<void>;
}

function startRedisProcess(port: number, directory: string, extra: readonly string[] = []): ManagedProcess {
  return ManagedProcess.spawn(`redis-server :${port}`, 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    directory,
    ...extra,
  ]);
}

/**
 * Sends one inline command over a plain socket and resolves true once the reply contains
 * `expected`. A probe without a client library leaves no reconnect or connect-timeout timer
 * behind when the server is not up yet.
 */
function answers(port: number, command: string, expected: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes(expected)) done(true);
      else if (reply.startsWith('-') || reply.length > 100_000) done(false);
    });
  });
}

/**
 * A standalone server, on `port` when given (to bring one back where it was), else a free one.
 * `extra`: more redis-server arguments (they win over the defaults above).
 */
export async function startRedis(port?: number, extra: readonly string[] = []): Promise<RunningServer> {
  const directory = await mkdtemp(join(tmpdir(), 'aft-redis-'));
  port ??= await freePort();
  const server = startRedisProcess(port, directory, extra);
  await server.waitUntil(() => answers(port, 'PING', '+PONG'));
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      await server.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export async function startRedisCluster(masters = 3): Promise<RunningServer> {
  const directory = await mkdtemp(join(tmpdir(), 'aft-redis-cluster-'));
  const ports = await Promise.all(Array.from({ length: masters }, () => freePort()));
  const servers = ports.map((port) =>
    startRedisProcess(port, directory, [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      `nodes-${port}.conf`,
      '--cluster-node-timeout',
      '5000',
    ]),
  );
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(directory, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      servers.map((server, i) => server.waitUntil(() => answers(ports[i]!, 'PING', '+PONG'))),
    );
    const create = ManagedProcess.spawn('redis-cli --cluster create', 'redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const code = await create.finished();
    if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}):\n${create.output}`);
    const clusterOk = (port: number) => answers(port, 'CLUSTER INFO', 'cluster_state:ok');
    await Promise.all(servers.map((server, i) => server.waitUntil(() => clusterOk(ports[i]!))));
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`, stop };
}

/**
 * What an operator sees of storage: unreachable at start-up, the node names the engine, the
 * address and the cause once (not a stack per retry), and is not ready until storage answers;
 * it says once when storage answers again. A Redis that may lose acknowledged commits (no
 * AOF, or a policy that evicts keys) is named at `storage init` and `serve`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type RunningShim, startShim } from '../../server/start.js';
import type { NodeLogger } from '../../shim/telemetry.js';
import { eventually } from '../helpers/eventually.js';
import { httpClient } from '../helpers/http.js';
import { AFT_BIN, freePort } from '../helpers/processes.js';
import { type RunningServer, startRedis } from '../servers/redis.js';

interface Logged {
  readonly level: 'info' | 'warn' | 'error' | 'debug';
  readonly object: Record<string, unknown>;
  readonly message: string;
}

function capturingLogger(): { logger: NodeLogger; lines: Logged[] } {
  const lines: Logged[] = [];
  const at =
    (level: Logged['level']) =>
    (object: object, message = '') =>
      lines.push({ level, object: object as Record<string, unknown>, message });
  return { logger: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') }, lines };
}

describe('storage unreachable at start-up', () => {
  let redis: RunningServer | undefined;
  let shim: RunningShim | undefined;
  afterEach(async () => {
    await shim?.close();
    await redis?.stop();
    shim = undefined;
    redis = undefined;
  });

  it('names engine, address and cause once, is not ready until storage answers, and says when it does', async () => {
    const port = await freePort();
    const { logger, lines } = capturingLogger();
    shim = await startShim({ port: 0, storage: `redis://127.0.0.1:${port}`, logger, env: {} });
    const unreachable = await eventually(
      () => lines.filter((line) => line.message.startsWith('storage unreachable')),
      (found) => found.length > 0,
    );
    expect(unreachable).toHaveLength(1);
    expect(unreachable[0]!.message).toContain(`redis://127.0.0.1:${port}`);
    expect(unreachable[0]!.message).toContain('ECONNREFUSED');
    expect(unreachable[0]!.object).toMatchObject({ engine: 'redis', code: 'ECONNREFUSED' });
    expect((await httpClient(shim.url)('GET', '/readyz')).status).toBe(503);
    // Several retries later: still the one line, and no stack at warn level or above.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const loud = lines.filter((line) => line.level === 'warn' || line.level === 'error');
    expect(loud.map((line) => line.message)).toEqual([unreachable[0]!.message]);
    expect(JSON.stringify(loud)).not.toContain('stack');

    redis = await startRedis(port);
    await shim.ready;
    expect(lines.filter((line) => line.message.startsWith('storage reachable again'))).toHaveLength(1);
    expect(lines.some((line) => line.message === 'ready')).toBe(true);
    expect((await httpClient(shim.url)('GET', '/readyz')).status).toBe(200);
  });
});

describe('a Redis that may lose acknowledged commits', () => {
  const run = async (args: string[]) => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [AFT_BIN, ...args], {
      env: { ...process.env, AFT_LOG_LEVEL: 'warn' },
      timeout: 20_000,
    });
    return stdout + stderr;
  };

  it('storage init warns when appendonly is off and when maxmemory-policy may evict keys', async () => {
    const redis = await startRedis(undefined, ['--maxmemory-policy', 'allkeys-lru']);
    try {
      const said = await run(['storage', 'init', '--storage', redis.url]);
      expect(said).toMatch(/appendonly is off/);
      expect(said).toMatch(/maxmemory-policy is allkeys-lru/);
    } finally {
      await redis.stop();
    }
  });

  it('storage init says nothing of it with AOF on and noeviction', async () => {
    const redis = await startRedis(undefined, ['--appendonly', 'yes', '--maxmemory-policy', 'noeviction']);
    try {
      const said = await run(['storage', 'init', '--storage', redis.url]);
      expect(said).not.toMatch(/appendonly|maxmemory-policy/);
    } finally {
      await redis.stop();
    }
  });

  it('serve warns once it reaches storage', async () => {
    const redis = await startRedis();
    const { logger, lines } = capturingLogger();
    const shim = await startShim({ port: 0, storage: redis.url, logger, env: {} });
    try {
      await shim.ready;
      const warned = await eventually(
        () => lines.filter((line) => line.level === 'warn' && /appendonly is off/.test(line.message)),
        (found) => found.length > 0,
      );
      expect(warned).toHaveLength(1);
    } finally {
      await shim.close();
      await redis.stop();
    }
  });
});

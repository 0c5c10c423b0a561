/**
 * A port already in use is a clear, typed error that names the address: from the library
 * (startShim rejects, nothing left running) and from the CLI (exit code 2, one line).
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { startShim } from '../../server/start.js';
import { ConfigError } from '../../shim/config.js';
import { AFT_BIN } from '../helpers/processes.js';

describe('a port in use', () => {
  let taken: Server;
  let port: number;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => taken.close(resolve)));

  it('makes startShim reject with a ConfigError that names the address', async () => {
    const error = await startShim({ port, host: '127.0.0.1', storage: 'memory:', env: {} }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(
      `--port ${port}: 127.0.0.1:${port} is in use (another process listens there)`,
    );
    expect(((error as ConfigError).cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
  });

  it('makes aft serve say so and exit 2', async () => {
    const failure = await promisify(execFile)(
      process.execPath,
      [AFT_BIN, 'serve', '--port', String(port), '--storage', 'memory:'],
      {
        env: { ...process.env, AFT_LOG_LEVEL: 'silent' },
        timeout: 20_000,
      },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr.trim().split('\n').at(-1)).toBe(
      `aft: --port ${port}: 127.0.0.1:${port} is in use (another process listens there)`,
    );
  });
});

/**
 * The harness's child processes: one that dies under a test says so with its last words;
 * a one-shot command awaited to its end does not (every run printed the cluster's
 * `redis-cli --cluster create` as "exited unexpectedly").
 */
import { ManagedProcess } from '../servers/managed-process.js';

describe('ManagedProcess', () => {
  let written: string[];
  let write: typeof process.stderr.write;
  beforeEach(() => {
    written = [];
    write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
  });
  afterEach(() => {
    process.stderr.write = write;
  });

  it('reports a server that exits on its own', async () => {
    const server = ManagedProcess.spawn('a server', process.execPath, ['-e', 'process.exit(0)']);
    await new Promise((resolve) => server.child.once('exit', resolve));
    expect(written.join('')).toMatch(/^a server exited unexpectedly \(0\)/);
  });

  it('does not report a one-shot command awaited with finished(), and tells its exit code', async () => {
    const command = ManagedProcess.spawn('a one-shot', process.execPath, ['-e', 'process.exit(3)']);
    expect(await command.finished()).toBe(3);
    expect(await command.finished()).toBe(3);
    expect(written.join('')).toBe('');
  });
});

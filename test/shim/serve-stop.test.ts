/**
 * `aft serve` stops on SIGTERM whatever became of the reader of its logs: a supervisor that
 * stops reading as it stops the node (a CI step's timeout, a container runtime going down)
 * must not leave a node that never exits.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logDestination } from '../../server/log-destination.js';
import { kill9, startAftProcess, waitForExit } from '../helpers/processes.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { ENGINES } from '../servers/engines.js';

/** The exit code, or 'running' if the process is still there after `ms`. */
function exitWithin(
  child: Parameters<typeof waitForExit>[0],
  ms: number,
): Promise<number | null | 'running'> {
  return Promise.race([
    waitForExit(child),
    new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), ms).unref()),
  ]);
}

describe('aft serve stopping', () => {
  it('exits on SIGTERM sent as the reader of its logs goes away', async () => {
    const { child } = await startAftProcess(['--storage', 'memory:'], { AFT_LOG_LEVEL: 'info' });
    try {
      // The pipe's read end closes; the node's next lines ("shutting down", "stopped") meet a
      // broken pipe while it exits.
      child.stdout?.destroy();
      child.kill('SIGTERM');
      expect(await exitWithin(child, 10_000)).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) await kill9(child);
    }
  });

  it('exits on SIGTERM while the reader of its logs has stopped reading', async () => {
    const { child, url } = await startAftProcess(['--storage', 'memory:'], {
      AFT_LOG_LEVEL: 'info',
      AFT_ACCESS_LOG_LEVEL: 'info',
    });
    try {
      child.stdout?.pause();
      child.stdout?.removeAllListeners('data');
      // Access-log lines past what the pipe holds (64 KiB on Linux): the rest waits in the node.
      for (let i = 0; i < 1500; i++) {
        await fetch(`${url}/v1/transactions`, { method: 'POST' }).then((answer) => answer.arrayBuffer());
      }
      child.kill('SIGTERM');
      expect(await exitWithin(child, 15_000)).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) await kill9(child);
    }
  }, 60_000);

  it('exits at once on a second SIGTERM while the first waits for a stalled engine', async () => {
    const url = new URL(await ENGINES.redis.freshStorageUrl());
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    url.host = proxy.address;
    const node = await startAftProcess(['--storage', url.toString()], { AFT_LOG_LEVEL: 'info' });
    try {
      // Shutdown now waits for the engine a storage call's deadline at a time (20 s).
      proxy.stall();
      node.child.kill('SIGTERM');
      expect(await exitWithin(node.child, 1_000)).toBe('running');
      node.child.kill('SIGTERM');
      expect(await exitWithin(node.child, 3_000)).toBe(1);
      expect(node.output()).toMatch(/"msg":"shutting down now: a second signal"/);
    } finally {
      if (node.child.exitCode === null && node.child.signalCode === null) await kill9(node.child);
      await proxy.close();
    }
  }, 30_000);

  it('exits on SIGTERM with its logs read to the end', async () => {
    const node = await startAftProcess(['--storage', 'memory:'], { AFT_LOG_LEVEL: 'info' });
    try {
      node.child.kill('SIGTERM');
      expect(await exitWithin(node.child, 10_000)).toBe(0);
      expect(node.output()).toMatch(/"msg":"shutting down".*\n.*"msg":"stopped"/);
    } finally {
      if (node.child.exitCode === null && node.child.signalCode === null) await kill9(node.child);
    }
  });
});

describe('the log destination', () => {
  let directory: string;
  let fifo: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'aft-log-'));
    fifo = join(directory, 'pipe');
    execFileSync('mkfifo', [fifo]);
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  /** Both ends of a pipe, non-blocking, as Node leaves a standard stream's. */
  const openPipe = () => {
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    return { reader, writer };
  };
  const line = `${'x'.repeat(99)}\n`;

  it('stops logging, once, when the reader is gone, and its flush before exit returns', async () => {
    const { reader, writer } = openPipe();
    const stops: string[] = [];
    const destination = logDestination({ fd: writer, onStopped: (error) => stops.push(error.code ?? '') });
    closeSync(reader);
    destination.write(line);
    destination.write(line);
    destination.flushBeforeExit();
    await new Promise((resolve) => setTimeout(resolve, 50));
    destination.write(line);
    expect(stops).toEqual(['EPIPE']);
    closeSync(writer);
  });

  /** Writes `rounds` × 10 KB of lines, a round at a time, for a reader that reads none of them. */
  const writeRounds = async (destination: { write(line: string): void }, rounds: number) => {
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < 100; i++) destination.write(line);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };

  /** Reads the pipe until it stays empty for 200 ms; the bytes read. */
  const drain = async (reader: number) => {
    const buffer = Buffer.alloc(1 << 16);
    let received = 0;
    let quietSince = performance.now();
    while (performance.now() - quietSince < 200) {
      try {
        const n = readSync(reader, buffer);
        if (n > 0) {
          received += n;
          quietSince = performance.now();
        }
      } catch {
        // EAGAIN: nothing to read now.
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return received;
  };

  // Its flush before exit, for a reader that does not read, is bounded too: the test above of
  // a node stopping (run in a process of its own, as a flush that loops would hang this one).
  it('holds at most its bound of lines for a reader that does not read, and drops the rest', async () => {
    const { reader, writer } = openPipe();
    const destination = logDestination({ fd: writer, maxBufferedBytes: 10_000 });
    // 500 KB of lines: the pipe takes 64 KiB, the destination its bound (and a write in flight).
    await writeRounds(destination, 50);
    const received = await drain(reader);
    expect(received).toBeGreaterThan(32 * 1024);
    expect(received).toBeLessThan(64 * 1024 + 10_000 + 16 * 1024 + 1_000);
    closeSync(reader);
    closeSync(writer);
  });
});

/**
 * A server process started for tests or benchmarks: spawned, waited on until it answers,
 * and stopped (SIGTERM, then SIGKILL) at the end. Its output is kept for error messages.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export class ManagedProcess {
  private log = '';

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.log = (this.log + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (error) => keep(Buffer.from(`\n${error.message}\n`)));
    // A server that dies under a test or benchmark says so, with its last words.
    child.on('exit', (code, signal) => {
      if (this.stopping) return;
      process.stderr.write(
        `${label} exited unexpectedly (${code ?? signal}); its last output:\n${this.log.slice(-4000)}\n`,
      );
    });
  }

  private stopping = false;

  static spawn(
    label: string,
    command: string,
    args: readonly string[],
    options: SpawnOptions = {},
  ): ManagedProcess {
    return new ManagedProcess(label, spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options }));
  }

  get output(): string {
    return this.log;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Waits for a one-shot command to end, an end expected and so not reported; its exit code. */
  async finished(): Promise<number | null> {
    this.stopping = true;
    if (!this.exited) await new Promise((resolve) => this.child.once('exit', resolve));
    return this.child.exitCode;
  }

  /** Polls `probe` until it resolves true; fails with the process's output after `timeoutMs`. */
  async waitUntil(probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`${this.label} exited early (${this.child.exitCode}):\n${this.log}`);
      if (await probe().catch(() => false)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`${this.label} did not become ready in ${timeoutMs} ms:\n${this.log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

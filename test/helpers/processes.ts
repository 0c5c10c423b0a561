/** Starting and killing real processes for crash tests: the aft command, adapter writers. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../servers/managed-process.js';

export { freePort };

export const ROOT = join(__dirname, '..', '..');
export const AFT_BIN = join(ROOT, 'dist', 'bin', 'aft.js');

export interface AftProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: () => string;
}

/** Runs `aft serve` and resolves once /readyz answers 200. */
export async function startAftProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<AftProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [AFT_BIN, 'serve', '--port', String(port), ...args], {
    env: { ...process.env, AFT_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`aft exited with ${child.exitCode}: ${output}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`aft did not become ready: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, child, output: () => output };
}

export function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export async function kill9(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL');
  await waitForExit(child);
}

/** Runs `aft lambda-local` and resolves once its Invoke API listens. */
export async function startLambdaLocalProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<AftProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [AFT_BIN, 'lambda-local', '--port', String(port), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listening = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('lambda-local: the Lambda Invoke API at')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`aft lambda-local exited with ${code}: ${output}`)));
  });
  await listening;
  return { url: `http://127.0.0.1:${port}`, child, output: () => output };
}

/** Stops a process with SIGTERM (it cleans up its children) and waits for it. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await waitForExit(child);
}

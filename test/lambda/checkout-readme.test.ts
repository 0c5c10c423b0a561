/**
 * The example's README, run as written: its first block (the shim, `aft lambda-local`, the
 * seed script) and its second (four orders), each command through a shell from the
 * repository root. Only the ports differ: free ones instead of 7070 and 9001.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AftClient } from '../../lambda-layer/client.js';
import { freePort, ROOT, waitForExit } from '../helpers/processes.js';

const readme = readFileSync(join(ROOT, 'examples', 'checkout', 'README.md'), 'utf8');
/** The README's code blocks, one command a line, comments dropped. */
const blocks = [...readme.matchAll(/```\n([\s\S]*?)```/g)].map((match) =>
  match[1]!
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter(Boolean),
);
const [[serveCommand, lambdaLocalCommand, seedCommand], orderCommands] = blocks as [string[], string[]];

const dataDirectory = mkdtempSync(join(tmpdir(), 'aft-checkout-readme-'));
const running: ChildProcess[] = [];
let env: NodeJS.ProcessEnv = {};

/** Starts a long-running command and resolves once `ready` says it is up. */
async function startCommand(command: string, extraEnv: NodeJS.ProcessEnv, ready: () => Promise<boolean>) {
  // Its own process group: the shell, npx and aft stop together (stopGroup).
  const child = spawn('bash', ['-c', command], {
    cwd: ROOT,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  for (const started = Date.now(); !(await ready().catch(() => false)); ) {
    if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode}: ${output}`);
    if (Date.now() - started > 60_000) throw new Error(`${command} did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // What answered may be another server on the port (one that took it between freePort and
  // this command's listen): this command then stops at once, its address in use.
  await new Promise((resolve) => setTimeout(resolve, 300));
  if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode}: ${output}`);
}

/** What the last `run` printed on standard error. */
let lastStderr = '';

async function run(command: string): Promise<string> {
  // As a user's shell has it: without the test setup's switch that silences the AWS SDK's
  // notice on Node 20, so the examples are seen to stay quiet by themselves.
  const { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _silenced, ...shell } = process.env;
  const { stdout, stderr } = await promisify(execFile)('bash', ['-c', command], {
    cwd: ROOT,
    env: { ...shell, ...env },
  });
  lastStderr = stderr;
  return stdout;
}

/** What order.mjs prints of the function's answer: everything before the storage lines. */
function answerOf(output: string): string {
  return output.slice(0, output.search(/^stock\//m));
}

/** The `key  value` lines order.mjs prints after the answer. */
function stored(output: string): Record<string, string> {
  const lines = output.split('\n').filter((line) => /^(stock|orders|payments|receipts)\//.test(line));
  return Object.fromEntries(lines.map((line) => [line.split(/\s+/)[0]!, line.replace(/^\S+\s+/, '')]));
}

beforeAll(async () => {
  const shimPort = await freePort();
  let lambdaPort = await freePort();
  while (lambdaPort === shimPort) lambdaPort = await freePort();
  const shimUrl = `http://127.0.0.1:${shimPort}`;
  const invokeUrl = `http://127.0.0.1:${lambdaPort}`;
  env = { AFT_URL: shimUrl, AWS_ENDPOINT_URL_LAMBDA: invokeUrl };

  expect(serveCommand).toBe('npx aft serve');
  await startCommand(
    serveCommand!,
    { AFT_PORT: String(shimPort), AFT_STORAGE: `file:${dataDirectory}`, AFT_LOG_LEVEL: 'warn' },
    async () => (await fetch(`${shimUrl}/readyz`)).status === 200,
  );
  expect(lambdaLocalCommand).toContain('http://127.0.0.1:7070');
  await startCommand(
    `${lambdaLocalCommand!.replace('http://127.0.0.1:7070', shimUrl)} --port ${lambdaPort}`,
    {},
    // lambda-local's own answer for a function it does not have, not any server's 404.
    async () =>
      (await fetch(`${invokeUrl}/2015-03-31/functions/none/invocations`, { method: 'POST' })).headers.get(
        'x-amzn-errortype',
      ) === 'ResourceNotFoundException',
  );
  expect(await run(seedCommand!)).toContain('seeded');
}, 120_000);

/** SIGTERM to a command's whole process group, then waits for its shell to end. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = waitForExit(child);
  process.kill(-child.pid, 'SIGTERM');
  await exited;
}

afterAll(async () => {
  await Promise.all(running.map((child) => stopGroup(child)));
  rmSync(dataDirectory, { recursive: true, force: true });
});

describe('examples/checkout/README.md, run as written', () => {
  it('has the four orders the README describes', () => {
    expect(orderCommands).toHaveLength(4);
    for (const command of orderCommands)
      expect(command).toMatch(/^node examples\/checkout\/scripts\/order\.mjs /);
  });

  it('an order commits once; its retry gets the same result and changes nothing', async () => {
    const first = await run(orderCommands[0]!);
    expect(lastStderr).toBe('');
    expect(answerOf(first)).toContain("orderId: '1001'");
    expect(stored(first)).toMatchObject({ 'stock/widget': '8' });
    expect(stored(first)['orders/1001']).toContain('"quantity":2');
    expect(stored(first)['payments/1001']).not.toBe('(none)');

    const retry = await run(orderCommands[1]!);
    expect(answerOf(retry)).toBe(answerOf(first));
    expect(stored(retry)['stock/widget']).toBe('8');
    expect(stored(retry)['orders/1001']).toBe(stored(first)['orders/1001']);
  }, 60_000);

  it('a declined card writes nothing', async () => {
    const output = await run(orderCommands[2]!);
    expect(output).toMatch(/^checkout failed: /);
    expect(stored(output)).toMatchObject({
      'stock/widget': '8',
      'orders/1002': '(none)',
      'payments/1002': '(none)',
    });
  }, 60_000);

  it('an order over the stock writes nothing', async () => {
    const output = await run(orderCommands[3]!);
    expect(output).toMatch(/^checkout failed: OutOfStockError/);
    expect(stored(output)).toMatchObject({ 'stock/gadget': '3', 'orders/1003': '(none)' });
  }, 60_000);

  it('concurrent orders neither oversell nor lose a charge: stock and ledger exact', async () => {
    const aft = new AftClient({ url: env.AFT_URL! });
    const readJson = async (key: string) => {
      const tx = await aft.begin();
      const value = await tx.getText(key);
      await tx.abort();
      return value === undefined ? undefined : (JSON.parse(value) as number);
    };
    const stockBefore = (await readJson('stock/widget'))!;
    const ledgerBefore = (await readJson('ledger/total-cents')) ?? 0;
    const orders = 6;
    const answers = await Promise.all(
      Array.from({ length: orders }, async (_, i) => {
        const response = await fetch(
          `${env.AWS_ENDPOINT_URL_LAMBDA}/2015-03-31/functions/checkout/invocations`,
          {
            method: 'POST',
            body: JSON.stringify({
              orderId: `concurrent-${i}`,
              sku: 'widget',
              quantity: 1,
              card: '4242424242424242',
            }),
          },
        );
        return { failed: response.headers.get('x-amz-function-error'), body: await response.text() };
      }),
    );
    expect(answers.filter((answer) => answer.failed)).toEqual([]);
    expect(await readJson('stock/widget')).toBe(stockBefore - orders);
    // Each order charged once, widget at 1250 cents.
    expect(await readJson('ledger/total-cents')).toBe(ledgerBefore + orders * 1250);
  }, 60_000);
});

/**
 * What one wake-up costs a Node process on this machine (bench/learning.ts): a bare reader, in
 * a process of its own, woken by one short line every `intervalMs` and doing nothing with it
 * but split and parse it. A node that only learns pays this per batch a peer sends it, beside
 * the learning itself; it is why a busy node sends fuller batches rather than more of them
 * (shim/commit-push.ts).
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatVersionId } from '../shim/ids.js';
import { processCpuMicros } from './measure.js';

const READER = `
const server = require('node:net').createServer((socket) => {
  socket.on('data', (chunk) => {
    for (const line of chunk.toString('utf8').split('\\n')) if (line !== '') JSON.parse(line);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

/** A batch of nine records as a stream line carries them. */
const LINE = `${JSON.stringify(
  Array.from({ length: 9 }, (_, i) => [
    formatVersionId(
      { physicalMs: Date.now(), logical: i },
      `aaaaaaaaaa-mwzhg7jv-1-${String(i).padStart(32, '0')}`,
    ),
    [`bench/${i}`, `bench/${i + 9}`],
  ]),
)}\n`;

/** CPU µs of the reader process per line, over `seconds`. */
export async function wakeCostMicros(intervalMs: number, seconds: number): Promise<number> {
  const reader = spawn(process.execPath, ['-e', READER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      reader.once('error', reject);
      reader.stdout.once('data', (data: Buffer) => resolve(Number(data.toString('utf8').trim())));
    });
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    // Past start-up and the first lines' compilation.
    for (let i = 0; i < 100; i += 1) {
      socket.write(LINE);
      await sleep(intervalMs);
    }
    const before = processCpuMicros(reader.pid!);
    let lines = 0;
    const timer = setInterval(() => {
      socket.write(LINE);
      lines += 1;
    }, intervalMs);
    await sleep(seconds * 1000);
    clearInterval(timer);
    const spent = processCpuMicros(reader.pid!) - before;
    socket.destroy();
    return spent / lines;
  } finally {
    reader.kill();
  }
}

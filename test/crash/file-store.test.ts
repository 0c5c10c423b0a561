/**
 * The embedded file store under real process crashes and real concurrent processes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileAdapter } from '../../adapters/file.js';
import { kill9, waitForExit } from '../helpers/processes.js';
import { tempDirectories } from '../helpers/temp-dir.js';

const tempDir = tempDirectories();
const WRITER = join(__dirname, 'file-writer.mjs');

function expectedValue(versionId: string): Buffer {
  const block = createHash('sha256').update(versionId).digest();
  return Buffer.concat(Array.from({ length: 2048 }, () => block));
}

function run(args: string[]) {
  const child = spawn(process.execPath, [WRITER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { child, lines: () => output.split('\n').filter(Boolean) };
}

function walk(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(directory, entry.name)) : [join(directory, entry.name)],
  );
}

describe('file store', () => {
  it('a SIGKILL at any instant loses no acknowledged write and leaves nothing half-written', async () => {
    const directory = tempDir();
    const acknowledged: string[] = [];
    for (let round = 0; round < 5; round += 1) {
      const writer = run(['write', directory]);
      // Killed while it writes, not while Node starts (which alone can take 500 ms on a loaded
      // machine): after its third acknowledged write, at a random instant.
      const started = Date.now();
      while (writer.lines().length < 3 && writer.child.exitCode === null && Date.now() - started < 20_000) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 200));
      await kill9(writer.child);
      acknowledged.push(...writer.lines().map((line) => line.slice('ack '.length)));
    }
    expect(acknowledged.length).toBeGreaterThan(10);

    const adapter = new FileAdapter({ directory });
    const records = await adapter.listCommitRecords(undefined);
    const recorded = new Set(records.map((record) => record.versionId));
    for (const versionId of acknowledged) {
      expect(recorded.has(versionId)).toBe(true);
      const record = records.find((candidate) => candidate.versionId === versionId)!;
      for (const key of record.writeSet) {
        expect(
          Buffer.from((await adapter.getVersion({ key, versionId }))!).equals(expectedValue(versionId)),
        ).toBe(true);
      }
    }
    // Every file in place is whole: versions hold their full value, records parse.
    for (const path of walk(join(directory, 'versions'))) {
      const versionId = path.split('/').pop()!;
      expect(readFileSync(path).equals(expectedValue(versionId))).toBe(true);
    }
    for (const path of walk(join(directory, 'commits'))) {
      expect(() => JSON.parse(readFileSync(path, 'utf8'))).not.toThrow();
    }
    // Opening the store again is fine and writes go on.
    await adapter.putCommitRecord({
      versionId: 'ffffffffffffffffff.after',
      txid: 'after',
      writeSet: [],
      deleted: [],
    });
    await adapter.close();
  }, 60_000);

  it('put-if-absent holds across processes: each record is won by exactly one of them', async () => {
    const directory = tempDir();
    const racers = ['a', 'b', 'c'].map((tag) => run(['race', directory, '200', tag]));
    await Promise.all(racers.map((racer) => waitForExit(racer.child)));
    const wins = racers.flatMap((racer) => racer.lines());
    expect(wins).toHaveLength(200);
    expect(new Set(wins).size).toBe(200);
    const adapter = new FileAdapter({ directory });
    expect(await adapter.listCommitRecords(undefined)).toHaveLength(200);
  }, 60_000);

  it('removes temp files a crashed writer left behind, once they are stale', async () => {
    const directory = tempDir();
    const adapter = new FileAdapter({ directory });
    await adapter.putVersions([{ key: 'k', versionId: '000000000000000001.x', value: new Uint8Array(1) }]);
    const { utimesSync, writeFileSync } = await import('node:fs');
    const stale = join(directory, 'tmp', 'crashed-1');
    const fresh = join(directory, 'tmp', 'writing-now');
    writeFileSync(stale, 'partial');
    writeFileSync(fresh, 'partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    const reopened = new FileAdapter({ directory });
    await reopened.putVersions([{ key: 'k', versionId: '000000000000000002.x', value: new Uint8Array(1) }]);
    expect(readdirSync(join(directory, 'tmp')).sort()).toEqual(['writing-now']);
  });
});

/** `aft gc`: one bounded pass from the command line, with progress, honouring the lease. */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FileAdapter } from '../../adapters/file.js';
import { acquireLease } from '../../gc/lease.js';
import { INTENTS_NAMESPACE } from '../../shim/commit.js';
import { formatVersionId } from '../../shim/ids.js';
import { AFT_BIN } from '../helpers/processes.js';

const run = promisify(execFile);
const bytes = (text: string) => new TextEncoder().encode(text);

describe('aft gc', () => {
  it('deletes superseded and orphan versions, reports what it did, and respects the lease', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'aft-gc-cli-'));
    const storage = new FileAdapter({ directory, fsync: false });
    // A history twenty minutes old (past the outcome retention): k written three times, an
    // orphan of a commit that died.
    const at = (offset: number, txid: string) =>
      formatVersionId({ physicalMs: Date.now() - 1_200_000 + offset, logical: 0 }, txid);
    const versions = [at(0, 'n-1-00000001'), at(1, 'n-2-00000002'), at(2, 'n-3-00000003')];
    for (const versionId of versions) {
      await storage.putVersions([{ key: 'k', versionId, value: bytes(versionId) }]);
      await storage.putCommitRecord({
        versionId,
        txid: versionId.split('.')[1]!,
        writeSet: ['k'],
        deleted: [],
      });
    }
    const orphan = at(3, 'n-4-00000004');
    await storage.putEntry(INTENTS_NAMESPACE, orphan, bytes('{"keys":["o"]}'));
    await storage.putVersions([{ key: 'o', versionId: orphan, value: bytes('never committed') }]);

    const { stdout, stderr } = await run(process.execPath, [AFT_BIN, 'gc', '--storage', `file:${directory}`]);
    expect(stdout).toContain(`aft gc on file:${directory}:`);
    expect(stdout).toMatch(/versions deleted +2\n/);
    expect(stdout).toMatch(/orphan versions deleted +1\n/);
    expect(stdout).toMatch(/records deleted +2\n/);
    expect(stdout).toMatch(/abort markers written +1\n/);
    expect(stderr).toContain('aft gc: listing');
    expect(stderr).toContain('aft gc: done');
    expect(await storage.getVersion({ key: 'k', versionId: versions[0]! })).toBeUndefined();
    expect(await storage.getVersion({ key: 'o', versionId: orphan })).toBeUndefined();
    expect(await storage.getVersion({ key: 'k', versionId: versions[2]! })).toEqual(bytes(versions[2]!));
    // The orphan's record id holds its abort marker, so its record can never land.
    expect((await storage.listCommitRecords(undefined)).map((record) => record.versionId)).toEqual([
      versions[2],
      orphan,
    ]);
    expect((await storage.getCommitRecord(orphan))?.aborted).toBe(true);

    // A node holds this period's lease: the job stands down, unless forced. (Near the end of
    // a period, the test waits for the next one so both runs fall in the same period.)
    const other = mkdtempSync(join(tmpdir(), 'aft-gc-lease-'));
    const otherStorage = new FileAdapter({ directory: other, fsync: false });
    let lease = await acquireLease(otherStorage, 'node-x', 30_000);
    if (lease.untilMs - Date.now() < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, lease.untilMs - Date.now() + 50));
      lease = await acquireLease(otherStorage, 'node-x', 30_000);
    }
    expect(lease.held).toBe(true);
    const polite = await run(process.execPath, [AFT_BIN, 'gc', '--storage', `file:${other}`]);
    expect(polite.stdout).toContain('node node-x holds the GC lease this period; nothing done');
    const forced = await run(process.execPath, [AFT_BIN, 'gc', '--force', '--storage', `file:${other}`]);
    expect(forced.stdout).toMatch(/versions deleted +0\n/);
  });

  it('goes on past a commit record it cannot read, says so, and leaves it', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'aft-gc-damaged-'));
    const storage = new FileAdapter({ directory, fsync: false });
    const versionId = formatVersionId({ physicalMs: Date.now() - 1_200_000, logical: 0 }, 'n-1-00000001');
    await storage.putCommitRecord({ versionId, txid: 'n-1-00000001', writeSet: ['k'], deleted: [] });
    const [file] = (await readdir(directory, { recursive: true })).filter((name) => name.endsWith('.json'));
    await writeFile(join(directory, file!), 'not json');
    const { stdout, stderr } = await run(process.execPath, [AFT_BIN, 'gc', '--storage', `file:${directory}`]);
    expect(stderr).toContain(`aft gc: the commit record ${versionId} cannot be read (damaged in storage)`);
    expect(stdout).toMatch(/records deleted +0\n/);
    expect(await readFile(join(directory, file!), 'utf8')).toBe('not json');
  });
});

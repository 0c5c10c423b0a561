/**
 * The file store's durability and crash safety at every step, deterministically (adapters/
 * file.ts): each file is written whole to tmp/, synced, moved into place (rename, or link for
 * put-if-absent), and its directory synced, before the call resolves. A crash at any of those
 * steps leaves either no file or the complete one, and put-if-absent still holds afterwards.
 * The SIGKILL tests (test/crash/*) show the same with a real process at random instants.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { CommitRecord } from '../../adapters/contract.js';
import { FileAdapter } from '../../adapters/file.js';
import { formatVersionId } from '../../shim/ids.js';
import { CrashError, type FsOp, RecordingFileSystem } from '../helpers/recording-fs.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const versionId = formatVersionId({ physicalMs: 1_800_000_000_000, logical: 0 }, 'aaaaaaaaaa-1-1-00');
const record: CommitRecord = { versionId, txid: 'aaaaaaaaaa-1-1-00', writeSet: ['k', 'l'], deleted: [] };
const value = bytes('a value long enough to be torn in half by a crash'.repeat(20));

function store(fileSystem?: RecordingFileSystem) {
  const directory = mkdtempSync(join(tmpdir(), 'aft-file-points-'));
  return {
    directory,
    adapter: new FileAdapter({ directory, ...(fileSystem && { fileSystem }) }),
    reopen: () => new FileAdapter({ directory }),
  };
}

/** Each write of the contract, and what a reader sees of it once it landed. */
const WRITES = {
  putVersions: {
    write: (adapter: FileAdapter) => adapter.putVersions([{ key: 'k', versionId, value }]),
    read: async (adapter: FileAdapter) => adapter.getVersion({ key: 'k', versionId }),
    whole: value,
  },
  putCommitRecord: {
    write: (adapter: FileAdapter) => adapter.putCommitRecord(record),
    read: async (adapter: FileAdapter) => adapter.getCommitRecord(versionId),
    whole: record,
  },
  putEntry: {
    write: (adapter: FileAdapter) => adapter.putEntry('ns', 'id', value),
    read: async (adapter: FileAdapter) => adapter.getEntry('ns', 'id'),
    whole: value,
  },
  createEntry: {
    write: (adapter: FileAdapter) => adapter.createEntry('ns', 'id', value),
    read: async (adapter: FileAdapter) => adapter.getEntry('ns', 'id'),
    whole: value,
  },
} as const;

const isTemp = (path: string) => path.includes(`${join('/', 'tmp', '')}`) && /\/tmp\/[^/]+$/.test(path);
const placed = (op: FsOp): op is Extract<FsOp, { from: string }> => op.op === 'rename' || op.op === 'link';
/** The directory sync that follows the placing (not one of a parent made on the way). */
const afterPlacing = (op: FsOp, done: readonly FsOp[]) => op.op === 'sync' && done.some(placed);

describe('file store durability, step by step', () => {
  it.each(Object.keys(WRITES) as (keyof typeof WRITES)[])(
    '%s writes only to tmp/, syncs the file before placing it, and its directory before resolving',
    async (name) => {
      const fileSystem = new RecordingFileSystem();
      const { adapter } = store(fileSystem);
      await WRITES[name].write(adapter);
      const { ops } = fileSystem;
      // Nothing is written in place: every byte goes to a temporary file first.
      const writes = ops.filter((op) => op.op === 'write');
      expect(writes.length).toBeGreaterThan(0);
      for (const op of writes)
        expect({ written: op.path, inTmp: isTemp(op.path) }).toMatchObject({ inTmp: true });
      const moves = ops.filter(placed);
      expect(moves.length).toBe(1);
      const move = moves[0]!;
      const at = ops.indexOf(move);
      // The file's data is durable before its name appears...
      expect(ops.slice(0, at)).toContainEqual({ op: 'datasync', path: move.from });
      // ...and the name is durable (its directory synced) before the call resolves.
      expect(ops.slice(at + 1)).toContainEqual({ op: 'sync', path: dirname(move.to) });
    },
  );
});

describe('file store crash points', () => {
  const points: [string, (op: FsOp, done: readonly FsOp[]) => boolean][] = [
    ['in the middle of writing the file (a torn write)', (op) => op.op === 'write'],
    ['after the file is written, before it is synced', (op) => op.op === 'datasync'],
    ['after it is synced, before it is moved into place', placed],
    ['after it is in place, before its directory is synced', afterPlacing],
  ];

  for (const [name, write] of Object.entries(WRITES)) {
    it.each(points)(`${name}: a crash %s leaves no file or the whole one`, async (_, crashAt) => {
      const fileSystem = new RecordingFileSystem();
      const { adapter, reopen } = store(fileSystem);
      fileSystem.crashWhen(crashAt);
      await expect(write.write(adapter)).rejects.toBeInstanceOf(CrashError);
      expect(fileSystem.crashed).toBe(true);
      const after = reopen();
      const seen = await write.read(after);
      if (seen !== undefined) expect(seen).toEqual(write.whole);
      // Placed before the crash (its directory entry exists): it must be whole and readable.
      const placedBeforeCrash = fileSystem.ops.some(placed);
      expect(seen !== undefined).toBe(placedBeforeCrash);
      await after.listCommitRecords(undefined);
      await after.close();
    });
  }

  it('put-if-absent holds across a crash: a record placed before it wins, one that was not leaves the id free', async () => {
    for (const [crashAt, placedFirst] of [
      [afterPlacing, true],
      [placed, false],
    ] as const) {
      const fileSystem = new RecordingFileSystem();
      const { adapter, reopen } = store(fileSystem);
      fileSystem.crashWhen(crashAt);
      await expect(adapter.putCommitRecord(record)).rejects.toBeInstanceOf(CrashError);
      const other = reopen();
      const rival = { ...record, txid: 'someone-else', writeSet: ['x'] };
      expect(await other.putCommitRecord(rival)).toBe(!placedFirst);
      expect(await other.getCommitRecord(versionId)).toEqual(placedFirst ? record : rival);
      await other.close();
    }
  });
});

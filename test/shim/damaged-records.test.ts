/**
 * A commit record that is not what aft writes (bytes damaged at rest, or a record naming
 * another id than the one it is stored under) is one commit lost, not the tier stopped: a
 * node's pulls, a fresh node's start and a GC pass go on past it, the commit's writes stay
 * invisible (atomic: none of them), the collector leaves the record where it is, and the
 * node reports it (docs/protocol.md, "Storage", damaged records).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageAdapter } from '../../adapters/contract.js';
import { FileAdapter } from '../../adapters/file.js';
import { damagedRecord, decodeStoredRecord, encodeRecord } from '../../adapters/record-codec.js';
import { collectGarbage } from '../../gc/collector.js';
import { DamagedRecordError, ErrorCode } from '../../shim/errors.js';
import { GuardedStorage } from '../../shim/guarded-storage.js';
import { encodeIntent, INTENTS_NAMESPACE } from '../../shim/intents.js';
import { ShimNode } from '../../shim/node.js';
import { noMetrics } from '../../shim/telemetry.js';
import { FaultyAdapter } from '../helpers/faulty-adapter.js';
import { tempDirectories } from '../helpers/temp-dir.js';

const tempDir = tempDirectories();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The file holding `versionId`'s record, under the store's directory. */
async function recordFile(directory: string, versionId: string): Promise<string> {
  for (const entry of await readdir(directory, { recursive: true })) {
    if (entry.endsWith(`${versionId}.json`)) return join(directory, entry);
  }
  throw new Error(`no record file for ${versionId}`);
}

/** Commits `key` = `value` alone through `node`; its version id. */
async function commitOne(node: ShimNode, key: string, value: string): Promise<string> {
  const { txid } = node.begin();
  node.write(txid, [{ key, value: encoder.encode(value) }]);
  const { version } = await node.commit(txid);
  return version!;
}

async function visible(
  storage: StorageAdapter,
  keys: readonly string[],
): Promise<Record<string, string | null>> {
  const reader = await ShimNode.open({ storage });
  try {
    const { txid } = reader.begin();
    const items = await reader.read(txid, keys);
    return Object.fromEntries(
      items.map(({ key, value }) => [key, value === undefined ? null : decoder.decode(value)]),
    );
  } finally {
    await reader.close();
  }
}

const DAMAGES: ReadonlyArray<readonly [string, (stored: Uint8Array, other: string) => Uint8Array]> = [
  ['bytes that are not JSON', () => encoder.encode('{"versionId": "tru')],
  ['JSON that is not a record', () => encoder.encode('[1, 2, 3]')],
  [
    'a write set that is not strings',
    (stored) => {
      const record = JSON.parse(decoder.decode(stored));
      return encoder.encode(JSON.stringify({ ...record, writeSet: [7] }));
    },
  ],
  [
    'a record naming another id',
    (stored, other) => {
      const record = JSON.parse(decoder.decode(stored));
      return encoder.encode(JSON.stringify({ ...record, versionId: other }));
    },
  ],
];

describe('a damaged commit record', () => {
  it.each(DAMAGES)('reads as damaged, not as an exception: %s', async (_, damage) => {
    const record = { versionId: '01a2224086cb000000.t1', txid: 't1', writeSet: ['a'], deleted: [] };
    const stored = encodeRecord(record);
    expect(decodeStoredRecord(stored, record.versionId)).toEqual(record);
    expect(decodeStoredRecord(damage(stored, '01a2224086cb000001.t2'), record.versionId)).toEqual(
      damagedRecord(record.versionId),
    );
  });

  it.each(DAMAGES)('is skipped by pulls, a fresh node and GC, and left in storage: %s', async (_, damage) => {
    const directory = tempDir();
    const storage = new FileAdapter({ directory });
    const writer = await ShimNode.open({ storage });
    let damagedId: string;
    let file: string;
    try {
      await commitOne(writer, 'a', 'one');
      damagedId = await commitOne(writer, 'b', 'two');
      await commitOne(writer, 'c', 'three');
      file = await recordFile(directory, damagedId);
      const other = await commitOne(writer, 'd', 'four');
      await writeFile(file, damage(await readFile(file), other));
      // The writer's own pull lists the damaged record among others: it goes on past it.
      await writer.pull();
      await commitOne(writer, 'e', 'five');
      await writer.pull();
    } finally {
      await writer.close();
    }
    // A fresh node learns every commit but the damaged one: none of its writes is visible.
    expect(await visible(storage, ['a', 'b', 'c', 'd', 'e'])).toEqual({
      a: 'one',
      b: null,
      c: 'three',
      d: 'four',
      e: 'five',
    });
    // A GC pass goes on past it too, and leaves it for an operator to look at.
    await collectGarbage({ storage });
    await expect(readFile(file)).resolves.toBeDefined();
  });

  it('with its intent left behind: a settling pull goes on past it, and GC leaves both', async () => {
    const directory = tempDir();
    const storage = new FileAdapter({ directory });
    const writer = await ShimNode.open({ storage });
    let damagedId: string;
    try {
      await commitOne(writer, 'a', 'one');
      damagedId = await commitOne(writer, 'b', 'two');
      await commitOne(writer, 'c', 'three');
    } finally {
      await writer.close();
    }
    await writeFile(await recordFile(directory, damagedId), 'not json');
    // Its committer died before deleting its intent, which is past the orphan bound now.
    const intent = encodeIntent([{ key: 'b', versionId: damagedId, value: encoder.encode('two') }], true);
    await storage.putEntry(INTENTS_NAMESPACE, damagedId, intent);
    const hourLater = () => Date.now() + 3_600_000;
    const report = await collectGarbage({ storage, now: hourLater });
    expect(report.unreadableIntents).toBe(1);
    expect((await storage.listEntries(INTENTS_NAMESPACE)).map(({ id }) => id)).toEqual([damagedId]);
    // A node an hour on settles the intents it finds: it cannot decide this one, and goes on.
    const reader = await ShimNode.open({ storage, now: hourLater });
    try {
      for (let pull = 0; pull < 12; pull += 1) await reader.pull();
      const { txid } = reader.begin();
      const items = await reader.read(txid, ['a', 'b', 'c']);
      expect(items.map(({ value }) => value && decoder.decode(value))).toEqual(['one', undefined, 'three']);
    } finally {
      await reader.close();
    }
  });

  it('fails a repeated commit that finds its record damaged: its outcome is unknown, not retryable', async () => {
    const directory = tempDir();
    const storage = new FaultyAdapter(new FileAdapter({ directory }));
    const node = await ShimNode.open({ storage });
    try {
      const { txid } = node.begin();
      node.write(txid, [{ key: 'a', value: encoder.encode('one') }]);
      // The record lands, its answer is lost: the commit's outcome is unknown until repeated.
      storage.arm({ operation: 'putCommitRecord', phase: 'after', effect: 'throw' });
      await expect(node.commit(txid)).rejects.toMatchObject({ code: ErrorCode.STORAGE_UNAVAILABLE });
      const [stored] = await storage.inner.listCommitRecords(undefined);
      await writeFile(await recordFile(directory, stored!.versionId), 'not json');
      const repeat = await node.commit(txid).catch((error: unknown) => error);
      expect(repeat).toBeInstanceOf(DamagedRecordError);
      expect(repeat).toMatchObject({ code: ErrorCode.STORAGE_UNAVAILABLE, retryable: false });
    } finally {
      await node.close();
    }
  });

  it('is listed past, reported once, and reads as absent through GuardedStorage', async () => {
    const directory = tempDir();
    const inner = new FileAdapter({ directory });
    const writer = await ShimNode.open({ storage: inner });
    const ids: string[] = [];
    try {
      for (const key of ['a', 'b', 'c']) ids.push(await commitOne(writer, key, key));
    } finally {
      await writer.close();
    }
    // Every record of a page damaged: the listing goes on to the next page, not to its end.
    for (const id of ids.slice(0, 2)) await writeFile(await recordFile(directory, id), 'not json');
    const damaged: string[] = [];
    const storage = GuardedStorage.of(inner, {
      metrics: noMetrics,
      onDamagedRecord: (versionId) => damaged.push(versionId),
    });
    expect((await storage.listCommitRecords(undefined, { limit: 2 })).map((r) => r.versionId)).toEqual([
      ids[2],
    ]);
    expect(await storage.getCommitRecord(ids[0]!)).toBeUndefined();
    expect(await storage.listCommitRecordIds(undefined)).toEqual(ids);
    expect(damaged).toEqual([ids[0], ids[1]]);
    // The adapter itself answers what is stored there: a damaged record, with its id.
    expect(await inner.getCommitRecord(ids[0]!)).toEqual(damagedRecord(ids[0]!));
  });
});

/**
 * The storage conformance suite: what every adapter must do (adapters/contract.ts). It is
 * runner-agnostic, plain async functions using node:assert, so any test runner can drive it;
 * `registerConformance` in ./jest.ts registers it with Jest. `open` must return an adapter
 * over a fresh, empty store each time it is called.
 */
import assert from 'node:assert/strict';
import type { CommitRecord, StorageAdapter, VersionWrite } from '../../adapters/contract.js';
import { damagedRecord, encodeRecord } from '../../adapters/record-codec.js';
import { GuardedStorage } from '../../shim/guarded-storage.js';
import { formatVersionId } from '../../shim/ids.js';

/**
 * What a case needs of the server beyond the plain contract. A test server that lacks one
 * (an emulator, never a production engine) skips those cases, with the reason shown.
 */
export type ServerFeature = 'conditionalWrites';

export interface ConformanceCase {
  readonly name: string;
  readonly needs?: readonly ServerFeature[];
  run(adapter: StorageAdapter): Promise<void>;
}

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

let sequence = 0;
/** A realistic version id at `ms` (the protocol's format), unique per call. */
export function versionAt(ms: number, logical = 0): string {
  sequence += 1;
  return formatVersionId({ physicalMs: ms, logical }, `aaaaaaaaaa-${sequence.toString(36)}-0000beef`);
}

function record(versionId: string, writeSet: string[], deleted: string[] = []): CommitRecord {
  return { versionId, txid: versionId.split('.')[1]!, writeSet, deleted };
}

/** Keys that break naive mappings onto paths, URLs, and key-size limits. */
export const TRICKY_KEYS: readonly string[] = [
  'plain',
  'a/b/c',
  '/leading',
  'trailing/',
  'a//b',
  '.',
  '..',
  '../escape',
  '100%',
  '%2F',
  'with space',
  ' ',
  'tab\there',
  'nul\u0000byte',
  'newline\nkey',
  'ümlaut',
  '日本語のキー',
  '🦀 crab',
  'CaseSensitive',
  'casesensitive',
  'x'.repeat(1024),
  'é'.repeat(512),
  `${'🦀'.repeat(255)}abcd`,
  '?query=1&x#frag',
  'back\\slash',
  '*:<>|"',
];

/**
 * A record stored as bytes the adapter cannot read (damage at rest, put there by `damage`, past
 * the adapter): it reads and lists as a damaged record under the id it is stored at, and the
 * listing goes on past it (CommitRecord.damaged).
 */
export const damagedRecordCase = {
  name: 'a record it cannot read reads and lists as damaged, and the listing goes on past it',
  async run(adapter: StorageAdapter, damage: (versionId: string, bytes: Uint8Array) => Promise<void>) {
    const ids = [versionAt(61_000), versionAt(62_000), versionAt(63_000), versionAt(64_000)];
    for (const id of ids) assert.equal(await adapter.putCommitRecord(record(id, [`k${id}`])), true);
    await damage(ids[1]!, bytes('{"versionId": "tru'));
    // A record that decodes, but names another id than the one it is stored under.
    await damage(ids[2]!, encodeRecord(record(ids[3]!, ['k'])));
    assert.deepEqual(await adapter.getCommitRecord(ids[1]!), damagedRecord(ids[1]!));
    assert.deepEqual(await adapter.getCommitRecord(ids[2]!), damagedRecord(ids[2]!));
    assert.deepEqual(await adapter.listCommitRecords(undefined), [
      record(ids[0]!, [`k${ids[0]}`]),
      damagedRecord(ids[1]!),
      damagedRecord(ids[2]!),
      record(ids[3]!, [`k${ids[3]}`]),
    ]);
    assert.deepEqual(await adapter.listCommitRecordIds(undefined), ids);
  },
};

export const conformanceCases: readonly ConformanceCase[] = [
  {
    name: 'an empty store has no versions and no commit records',
    async run(adapter) {
      assert.equal(await adapter.getVersion({ key: 'k', versionId: versionAt(1) }), undefined);
      assert.equal(await adapter.getCommitRecord(versionAt(1)), undefined);
      assert.deepEqual(await adapter.listCommitRecords(undefined), []);
    },
  },
  {
    name: 'a version round-trips, and a missing version reads as undefined',
    async run(adapter) {
      const v1 = versionAt(1000);
      await adapter.putVersions([{ key: 'k', versionId: v1, value: bytes('one') }]);
      assert.deepEqual(await adapter.getVersion({ key: 'k', versionId: v1 }), bytes('one'));
      assert.equal(await adapter.getVersion({ key: 'k', versionId: versionAt(1001) }), undefined);
      assert.equal(await adapter.getVersion({ key: 'other', versionId: v1 }), undefined);
    },
  },
  {
    name: 'empty values and large values round-trip exactly',
    async run(adapter) {
      const large = new Uint8Array(5 * 1024 * 1024);
      for (let i = 0; i < large.length; i += 1) large[i] = (i * 7919) & 0xff;
      const vEmpty = versionAt(2000);
      const vLarge = versionAt(2001);
      await adapter.putVersions([
        { key: 'empty', versionId: vEmpty, value: new Uint8Array(0) },
        { key: 'large', versionId: vLarge, value: large },
      ]);
      const empty = await adapter.getVersion({ key: 'empty', versionId: vEmpty });
      assert.ok(empty instanceof Uint8Array, 'an empty value is stored, not missing');
      assert.equal(empty.byteLength, 0);
      const readLarge = await adapter.getVersion({ key: 'large', versionId: vLarge });
      assert.ok(
        readLarge && Buffer.from(readLarge).equals(Buffer.from(large)),
        `read ${readLarge?.byteLength} bytes of ${large.byteLength}, first difference at ${readLarge ? Buffer.from(readLarge).findIndex((byte, i) => byte !== large[i]) : -1}`,
      );
    },
  },
  {
    name: 'binary values with every byte value round-trip',
    async run(adapter) {
      const value = Uint8Array.from({ length: 256 }, (_, i) => i);
      const v = versionAt(2100);
      await adapter.putVersions([{ key: 'binary', versionId: v, value }]);
      assert.deepEqual(await adapter.getVersion({ key: 'binary', versionId: v }), value);
    },
  },
  {
    name: 'any UTF-8 key up to 1024 bytes round-trips and keys never collide',
    async run(adapter) {
      for (const key of TRICKY_KEYS) assert.ok(encoder.encode(key).byteLength <= 1024, key);
      const v = versionAt(3000);
      await adapter.putVersions(
        TRICKY_KEYS.map((key) => ({ key, versionId: v, value: bytes(`value of ${key}`) })),
      );
      for (const key of TRICKY_KEYS) {
        assert.deepEqual(
          await adapter.getVersion({ key, versionId: v }),
          bytes(`value of ${key}`),
          `key ${key}`,
        );
      }
      const rv = versionAt(3001);
      assert.equal(
        await adapter.putCommitRecord(record(rv, [...TRICKY_KEYS], ['/leading', '日本語のキー'])),
        true,
      );
      const stored = await adapter.getCommitRecord(rv);
      assert.deepEqual(stored?.writeSet, TRICKY_KEYS);
      assert.deepEqual(stored?.deleted, ['/leading', '日本語のキー']);
    },
  },
  {
    name: 'versions of one key are kept apart',
    async run(adapter) {
      const ids = [versionAt(4000), versionAt(4000, 1), versionAt(4001)];
      await adapter.putVersions(ids.map((versionId, i) => ({ key: 'k', versionId, value: bytes(`v${i}`) })));
      for (const [i, versionId] of ids.entries()) {
        assert.deepEqual(await adapter.getVersion({ key: 'k', versionId }), bytes(`v${i}`));
      }
    },
  },
  {
    name: 'a batch of many versions is all readable once the call resolves',
    async run(adapter) {
      const v = versionAt(5000);
      const batch: VersionWrite[] = Array.from({ length: 300 }, (_, i) => ({
        key: `batch/${i}`,
        versionId: v,
        value: bytes(String(i)),
      }));
      await adapter.putVersions(batch);
      const values = await Promise.all(batch.map(({ key }) => adapter.getVersion({ key, versionId: v })));
      for (const [i, value] of values.entries()) assert.deepEqual(value, bytes(String(i)));
    },
  },
  {
    name: 'stored data cannot be changed through the buffers passed in or returned',
    async run(adapter) {
      const v = versionAt(5500);
      const value = bytes('original');
      await adapter.putVersions([{ key: 'k', versionId: v, value }]);
      value.fill(0);
      const read = await adapter.getVersion({ key: 'k', versionId: v });
      assert.deepEqual(read, bytes('original'));
      read?.fill(0);
      assert.deepEqual(await adapter.getVersion({ key: 'k', versionId: v }), bytes('original'));
    },
  },
  {
    name: 'put-if-absent: the first commit record wins and is never overwritten',
    needs: ['conditionalWrites'],
    async run(adapter) {
      const v = versionAt(6000);
      assert.equal(await adapter.putCommitRecord(record(v, ['a', 'b'])), true);
      assert.equal(await adapter.putCommitRecord({ ...record(v, ['c']), txid: 'someone-else' }), false);
      assert.deepEqual(await adapter.getCommitRecord(v), record(v, ['a', 'b']));
      assert.equal((await adapter.listCommitRecords(undefined)).length, 1);
    },
  },
  {
    name: 'an abort marker takes a record id first: it round-trips, lists, and the late real record loses',
    needs: ['conditionalWrites'],
    async run(adapter) {
      const v = versionAt(6200);
      const marker: CommitRecord = { ...record(v, []), aborted: true };
      assert.equal(await adapter.putCommitRecord(marker), true);
      assert.equal(await adapter.putCommitRecord(record(v, ['late'])), false);
      assert.deepEqual(await adapter.getCommitRecord(v), marker);
      assert.deepEqual(await adapter.listCommitRecords(undefined), [marker]);
      assert.deepEqual(await adapter.listCommitRecordIds(undefined), [v]);
      const real = versionAt(6300);
      assert.equal(await adapter.putCommitRecord(record(real, ['k'])), true);
      assert.deepEqual(await adapter.getCommitRecord(real), record(real, ['k']));
      assert.equal('aborted' in (await adapter.listCommitRecords(v))[0]!, false);
    },
  },
  {
    name: 'put-if-absent race: of many concurrent writers of one record exactly one wins',
    needs: ['conditionalWrites'],
    async run(adapter) {
      const v = versionAt(6500);
      const writers = Array.from({ length: 24 }, (_, i) => ({
        ...record(v, [`k${i}`]),
        txid: `writer-${i}`,
      }));
      const outcomes = await Promise.all(writers.map((r) => adapter.putCommitRecord(r)));
      assert.equal(outcomes.filter(Boolean).length, 1);
      const winner = writers[outcomes.indexOf(true)]!;
      assert.deepEqual(await adapter.getCommitRecord(v), winner);
    },
  },
  {
    name: 'commit records list in version order, strictly after the watermark',
    async run(adapter) {
      const ids = Array.from({ length: 40 }, (_, i) => versionAt(1_700_000_000_000 + i * 37_000, i % 3));
      const shuffled = [...ids].sort(() => Math.random() - 0.5);
      await Promise.all(shuffled.map((id) => adapter.putCommitRecord(record(id, [id]))));
      const all = await adapter.listCommitRecords(undefined);
      assert.deepEqual(
        all.map((r) => r.versionId),
        [...ids].sort(),
      );
      assert.deepEqual(all[0], record([...ids].sort()[0]!, [[...ids].sort()[0]!]));
      const sorted = [...ids].sort();
      const after = await adapter.listCommitRecords(sorted[9]);
      assert.deepEqual(
        after.map((r) => r.versionId),
        sorted.slice(10),
      );
      assert.deepEqual(await adapter.listCommitRecords(sorted[sorted.length - 1]), []);
    },
  },
  {
    name: 'a watermark between ids, or before all of them, lists the right records',
    async run(adapter) {
      const early = versionAt(1_000_000);
      const late = versionAt(9_000_000_000);
      await adapter.putCommitRecord(record(early, ['x']));
      await adapter.putCommitRecord(record(late, ['y']));
      const between = formatVersionId({ physicalMs: 5_000_000, logical: 0 }, 'zzzzzzzzzz-0-00000000');
      assert.deepEqual(
        (await adapter.listCommitRecords(between)).map((r) => r.versionId),
        [late],
      );
      assert.deepEqual(
        (await adapter.listCommitRecords('0')).map((r) => r.versionId),
        [early, late],
      );
    },
  },
  {
    name: 'paging with a limit visits every record exactly once',
    async run(adapter) {
      const ids = Array.from({ length: 57 }, (_, i) => versionAt(1_700_000_000_000 + i * 61_000));
      for (const id of ids) await adapter.putCommitRecord(record(id, ['k']));
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await adapter.listCommitRecords(after, { limit: 10 });
        assert.ok(page.length <= 10);
        if (page.length === 0) break;
        seen.push(...page.map((r) => r.versionId));
        after = page[page.length - 1]!.versionId;
      }
      assert.deepEqual(seen, [...ids].sort());
    },
  },
  {
    name: 'commit record ids list like the records, page by page, and never miss a stored one',
    async run(adapter) {
      assert.deepEqual(await adapter.listCommitRecordIds(undefined), []);
      const ids = Array.from({ length: 57 }, (_, i) => versionAt(1_700_000_000_000 + i * 61_000, i % 2));
      await Promise.all([...ids].reverse().map((id) => adapter.putCommitRecord(record(id, ['k']))));
      const sorted = [...ids].sort();
      assert.deepEqual(await adapter.listCommitRecordIds(undefined), sorted);
      assert.deepEqual(await adapter.listCommitRecordIds(sorted[20]), sorted.slice(21));
      assert.deepEqual(await adapter.listCommitRecordIds(sorted[sorted.length - 1]), []);
      const between = formatVersionId(
        { physicalMs: 1_700_000_000_000 + 30 * 61_000 + 1, logical: 0 },
        'zzzzzzzzzz-0-00000000',
      );
      assert.deepEqual(
        await adapter.listCommitRecordIds(between),
        sorted.filter((id) => id > between),
      );
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await adapter.listCommitRecordIds(after, { limit: 10 });
        assert.ok(page.length <= 10);
        if (page.length === 0) break;
        seen.push(...page);
        after = page[page.length - 1];
      }
      assert.deepEqual(seen, sorted);
      // Deleted records may still be listed for a while (the contract lets an engine lag), but
      // every stored one is, and ids are strictly ascending.
      await adapter.deleteCommitRecords(sorted.slice(0, 10));
      const afterDelete = await adapter.listCommitRecordIds(undefined);
      for (const id of sorted.slice(10)) assert.ok(afterDelete.includes(id), `${id} is listed`);
      assert.deepEqual(afterDelete, [...new Set(afterDelete)].sort());
    },
  },
  {
    name: 'concurrent writers and readers of different keys do not interfere',
    async run(adapter) {
      await Promise.all(
        Array.from({ length: 16 }, async (_, writer) => {
          for (let round = 0; round < 10; round += 1) {
            const v = versionAt(7000 + round);
            const key = `w${writer}`;
            await adapter.putVersions([{ key, versionId: v, value: bytes(`${writer}:${round}`) }]);
            assert.deepEqual(await adapter.getVersion({ key, versionId: v }), bytes(`${writer}:${round}`));
            assert.equal(await adapter.putCommitRecord(record(v, [key])), true);
          }
        }),
      );
      assert.equal((await adapter.listCommitRecords(undefined)).length, 160);
    },
  },
  {
    name: 'batched deletes remove exactly the named versions, missing ones included',
    async run(adapter) {
      const [a, b, c] = [versionAt(8000), versionAt(8001), versionAt(8002)];
      await adapter.putVersions([
        { key: 'k', versionId: a, value: bytes('a') },
        { key: 'k', versionId: b, value: bytes('b') },
        { key: 'l', versionId: a, value: bytes('la') },
      ]);
      await adapter.deleteVersions([
        { key: 'k', versionId: a },
        { key: 'l', versionId: a },
        { key: 'k', versionId: c },
        { key: 'never', versionId: a },
      ]);
      assert.equal(await adapter.getVersion({ key: 'k', versionId: a }), undefined);
      assert.equal(await adapter.getVersion({ key: 'l', versionId: a }), undefined);
      assert.deepEqual(await adapter.getVersion({ key: 'k', versionId: b }), bytes('b'));
      await adapter.deleteVersions([]);
    },
  },
  {
    name: 'deleted commit records are gone from reads and listings',
    async run(adapter) {
      const ids = [versionAt(9000), versionAt(9001), versionAt(9002)];
      for (const id of ids) await adapter.putCommitRecord(record(id, ['k']));
      await adapter.deleteCommitRecords([ids[0]!, ids[2]!, versionAt(9003)]);
      assert.equal(await adapter.getCommitRecord(ids[0]!), undefined);
      assert.deepEqual(
        (await adapter.listCommitRecords(undefined)).map((r) => r.versionId),
        [ids[1]],
      );
      // A deleted record's id may be written again (never by the shim, but the contract holds).
      assert.equal(await adapter.putCommitRecord(record(ids[0]!, ['again'])), true);
      await adapter.deleteCommitRecords([]);
    },
  },
  {
    name: 'a commit record with a write set of many long keys round-trips, lists and deletes',
    async run(adapter) {
      const keys = Array.from({ length: 3000 }, (_, i) => `${'long-key-'.repeat(22)}${i}`);
      const big = record(versionAt(11_000), keys, keys.slice(0, 500));
      const small = record(versionAt(11_001), ['k']);
      assert.equal(await adapter.putCommitRecord(big), true);
      assert.equal(await adapter.putCommitRecord(small), true);
      assert.deepEqual(await adapter.getCommitRecord(big.versionId), big);
      assert.deepEqual(await adapter.listCommitRecords(undefined), [big, small]);
      await adapter.deleteCommitRecords([big.versionId]);
      assert.equal(await adapter.getCommitRecord(big.versionId), undefined);
      assert.deepEqual(await adapter.listCommitRecords(undefined), [small]);
    },
  },
  {
    name: 'a large version is deleted whole, and the same key keeps its other versions',
    async run(adapter) {
      const large = new Uint8Array(1_500_000).map((_, i) => i % 251);
      const [v1, v2] = [versionAt(12_000), versionAt(12_001)];
      await adapter.putVersions([
        { key: 'big', versionId: v1, value: large },
        { key: 'big', versionId: v2, value: large.subarray(0, 1000) },
      ]);
      await adapter.deleteVersions([{ key: 'big', versionId: v1 }]);
      assert.equal(await adapter.getVersion({ key: 'big', versionId: v1 }), undefined);
      assert.deepEqual(await adapter.getVersion({ key: 'big', versionId: v2 }), large.slice(0, 1000));
      // Writing the deleted version again (a retried commit) makes it whole again.
      await adapter.putVersions([{ key: 'big', versionId: v1, value: large }]);
      assert.deepEqual(await adapter.getVersion({ key: 'big', versionId: v1 }), large);
    },
  },
  {
    name: 'entries: put replaces, list is in id order past `after` and up to `limit`, namespaces are apart',
    async run(adapter) {
      assert.deepEqual(await adapter.listEntries('members'), []);
      const ids = ['node-b', 'node-a', 'node-c', 'node-e', 'node-d'];
      for (const id of ids) await adapter.putEntry('members', id, bytes(`first ${id}`));
      await adapter.putEntry('members', 'node-c', bytes('second node-c'));
      await adapter.putEntry('other', 'node-a', new Uint8Array(0));
      const listed = await adapter.listEntries('members');
      assert.deepEqual(
        listed.map((entry) => [entry.id, Buffer.from(entry.value).toString()]),
        [
          ['node-a', 'first node-a'],
          ['node-b', 'first node-b'],
          ['node-c', 'second node-c'],
          ['node-d', 'first node-d'],
          ['node-e', 'first node-e'],
        ],
      );
      const page = await adapter.listEntries('members', { after: 'node-b', limit: 2 });
      assert.deepEqual(
        page.map((entry) => entry.id),
        ['node-c', 'node-d'],
      );
      const other = await adapter.listEntries('other');
      assert.deepEqual(
        other.map((entry) => [entry.id, entry.value.byteLength]),
        [['node-a', 0]],
      );
      await adapter.deleteEntries('members', ['node-a', 'node-e', 'never-there']);
      assert.deepEqual(
        (await adapter.listEntries('members')).map((entry) => entry.id),
        ['node-b', 'node-c', 'node-d'],
      );
    },
  },
  {
    name: "entries: putEntries (the engine's batch, or the core's putEntry each) puts every one as putEntry would",
    async run(adapter) {
      const storage = GuardedStorage.of(adapter);
      await adapter.putEntry('gc-collected', 'n-000', bytes('before'));
      await adapter.putEntry('elsewhere', 'n-001', bytes('other namespace'));
      // Past DynamoDB's 25 a request; one id twice (a batch may not carry both); one empty.
      const ids = Array.from({ length: 60 }, (_, i) => `n-${String(i).padStart(3, '0')}`);
      await storage.putEntries('gc-collected', [
        ...ids.map((id) => ({ id, value: bytes(`first ${id}`) })),
        { id: 'n-007', value: bytes('second n-007') },
        { id: 'n-008', value: new Uint8Array(0) },
      ]);
      await storage.putEntries('gc-collected', []);
      const listed = await adapter.listEntries('gc-collected');
      assert.deepEqual(
        listed.map(({ id, value }) => [id, Buffer.from(value).toString()]),
        ids.map((id) => [id, id === 'n-007' ? 'second n-007' : id === 'n-008' ? '' : `first ${id}`]),
      );
      assert.deepEqual(
        Buffer.from((await adapter.getEntry('elsewhere', 'n-001'))!).toString(),
        'other namespace',
      );
    },
  },
  {
    name: "entries: createEntries (the engine's batch, or the core's createEntry each) creates each one absent, and leaves one there as it is",
    needs: ['conditionalWrites'],
    async run(adapter) {
      const storage = GuardedStorage.of(adapter);
      await adapter.putEntry('tickets', 't-005', bytes('there before'));
      // Past DynamoDB's 100 a transaction; one id there already (its batch then goes one by
      // one); one id twice (the first is created).
      const ids = Array.from({ length: 230 }, (_, i) => `t-${String(i).padStart(3, '0')}`);
      await storage.createEntries('tickets', [
        ...ids.map((id) => ({ id, value: bytes(`ready ${id}`) })),
        { id: 't-007', value: bytes('second t-007') },
      ]);
      await storage.createEntries('tickets', []);
      const listed = await adapter.listEntries('tickets');
      assert.deepEqual(
        listed.map(({ id, value }) => [id, Buffer.from(value).toString()]),
        ids.map((id) => [id, id === 't-005' ? 'there before' : `ready ${id}`]),
      );
    },
  },
  {
    name: 'entries: get reads one entry by id: its latest value, empty included, or undefined',
    async run(adapter) {
      assert.equal(await adapter.getEntry('claims', 'k.0'), undefined);
      await adapter.putEntry('claims', 'k.0', bytes('first'));
      await adapter.putEntry('claims', 'k.0', bytes('second'));
      await adapter.putEntry('claims', 'k.1', new Uint8Array(0));
      await adapter.putEntry('elsewhere', 'k.2', bytes('other namespace'));
      assert.deepEqual(Buffer.from((await adapter.getEntry('claims', 'k.0'))!).toString(), 'second');
      assert.equal((await adapter.getEntry('claims', 'k.1'))?.byteLength, 0);
      assert.equal(await adapter.getEntry('claims', 'k.2'), undefined);
      // The value returned is the caller's: changing it changes nothing stored.
      (await adapter.getEntry('claims', 'k.0'))!.fill(0);
      assert.deepEqual(Buffer.from((await adapter.getEntry('claims', 'k.0'))!).toString(), 'second');
      await adapter.deleteEntries('claims', ['k.0']);
      assert.equal(await adapter.getEntry('claims', 'k.0'), undefined);
    },
  },
  {
    name: 'entries: one of the largest size the adapter declares (or of 1 MiB) is stored whole: a commit intent holding its values',
    async run(adapter) {
      const size = adapter.maxEntryBytes ?? 1024 * 1024;
      const value = new Uint8Array(size).map((_, i) => i % 251);
      const id = `${'0'.repeat(18)}.${'t'.repeat(100)}`;
      await adapter.putEntry('intents', id, value);
      assert.deepEqual(await adapter.getEntry('intents', id), value);
      const [listed] = await adapter.listEntries('intents');
      assert.equal(listed?.value.byteLength, size);
    },
  },
  {
    name: 'entries: create is put-if-absent, and of many concurrent creators exactly one wins',
    needs: ['conditionalWrites'],
    async run(adapter) {
      assert.equal(await adapter.createEntry('lease', 'epoch-1', bytes('me')), true);
      assert.equal(await adapter.createEntry('lease', 'epoch-1', bytes('you')), false);
      const outcomes = await Promise.all(
        Array.from({ length: 16 }, (_, i) => adapter.createEntry('lease', 'epoch-2', bytes(`node-${i}`))),
      );
      assert.equal(outcomes.filter(Boolean).length, 1);
      const entries = await adapter.listEntries('lease');
      assert.deepEqual(Buffer.from(entries[0]!.value).toString(), 'me');
      assert.equal(Buffer.from(entries[1]!.value).toString(), `node-${outcomes.indexOf(true)}`);
    },
  },
  {
    name: 'swapEntry, where the adapter has it: replaces only the expected value (or creates only where there is none)',
    needs: ['conditionalWrites'],
    async run(adapter) {
      if (!adapter.swapEntry) return;
      assert.equal(await adapter.swapEntry('claims', 'k', bytes('held'), bytes('x')), false);
      assert.equal(await adapter.getEntry('claims', 'k'), undefined);
      assert.equal(await adapter.swapEntry('claims', 'k', undefined, bytes('free')), true);
      assert.equal(await adapter.swapEntry('claims', 'k', undefined, bytes('again')), false);
      assert.equal(await adapter.swapEntry('claims', 'k', bytes('fre'), bytes('held')), false);
      assert.equal(await adapter.swapEntry('claims', 'k', bytes('freee'), bytes('held')), false);
      assert.equal(await adapter.swapEntry('claims', 'k', bytes('free'), bytes('held by a')), true);
      assert.equal(Buffer.from((await adapter.getEntry('claims', 'k'))!).toString(), 'held by a');
      // The same bytes again: a swap from a value to itself succeeds and changes nothing.
      assert.equal(await adapter.swapEntry('claims', 'k', bytes('held by a'), bytes('held by a')), true);
      // Bytes that are not text compare byte for byte.
      const binary = new Uint8Array([0, 255, 10, 0]);
      assert.equal(await adapter.swapEntry('claims', 'b', undefined, binary), true);
      assert.equal(
        await adapter.swapEntry('claims', 'b', new Uint8Array([0, 255, 10, 1]), bytes('no')),
        false,
      );
      assert.equal(await adapter.swapEntry('claims', 'b', binary, bytes('yes')), true);
      await assert.rejects(adapter.swapEntry('claims', 'k', undefined, new Uint8Array(5000)), TypeError);
    },
  },
  {
    name: 'swapEntry, where the adapter has it: of many concurrent swaps from one value, exactly one wins',
    needs: ['conditionalWrites'],
    async run(adapter) {
      if (!adapter.swapEntry) return;
      await adapter.putEntry('claims', 'race', bytes('free'));
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          adapter.swapEntry!('claims', 'race', bytes('free'), bytes(`held by ${i}`)),
        ),
      );
      assert.equal(outcomes.filter(Boolean).length, 1);
      const winner = outcomes.indexOf(true);
      assert.equal(Buffer.from((await adapter.getEntry('claims', 'race'))!).toString(), `held by ${winner}`);
      // And creators of an absent one: one wins, the rest see it taken.
      const creators = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          adapter.swapEntry!('claims', 'fresh', undefined, bytes(`created by ${i}`)),
        ),
      );
      assert.equal(creators.filter(Boolean).length, 1);
    },
  },
  {
    name: 'versions and a record in one atomic write, where the adapter has it: both land, or neither when the id is taken',
    needs: ['conditionalWrites'],
    async run(adapter) {
      if (!adapter.putVersionsAndRecord) return;
      const v = versionAt(11_000);
      const big = new Uint8Array(360 * 1024).map((_, i) => i % 251);
      const versions: VersionWrite[] = [
        { key: 'k', versionId: v, value: bytes('k at v') },
        { key: 'a/b', versionId: v, value: new Uint8Array(0) },
        { key: 'big', versionId: v, value: big },
      ];
      const committed = record(v, ['k', 'a/b', 'big', 'gone'], ['gone']);
      assert.equal(adapter.fitsVersionsAndRecord?.(versions, committed) ?? true, true);
      assert.equal(await adapter.putVersionsAndRecord(versions, committed), true);
      for (const { key, value } of versions) {
        assert.deepEqual(await adapter.getVersion({ key, versionId: v }), value);
      }
      assert.deepEqual(await adapter.getCommitRecord(v), committed);
      assert.deepEqual(await adapter.listCommitRecordIds(undefined), [v]);
      // The id is taken: nothing of a second write lands, the record stays the first one's.
      const again = [{ key: 'other', versionId: v, value: bytes('late') }];
      assert.equal(
        await adapter.putVersionsAndRecord(again, { ...record(v, ['other']), txid: 'late' }),
        false,
      );
      assert.equal(await adapter.getVersion({ key: 'other', versionId: v }), undefined);
      assert.deepEqual(await adapter.getCommitRecord(v), committed);
      // An abort marker took the id first: the real commit's versions never land.
      const judged = versionAt(11_100);
      assert.equal(await adapter.putCommitRecord({ ...record(judged, []), aborted: true }), true);
      const late = [{ key: 'k', versionId: judged, value: bytes('late') }];
      assert.equal(await adapter.putVersionsAndRecord(late, record(judged, ['k'])), false);
      assert.equal(await adapter.getVersion({ key: 'k', versionId: judged }), undefined);
      // An aborted signal writes nothing.
      const controller = new AbortController();
      controller.abort(new Error('caller gave up'));
      const unsent = versionAt(11_200);
      await assert.rejects(
        adapter.putVersionsAndRecord(
          [{ key: 'k', versionId: unsent, value: bytes('x') }],
          record(unsent, ['k']),
          {
            signal: controller.signal,
          },
        ),
      );
      assert.equal(await adapter.getCommitRecord(unsent), undefined);
      assert.equal(await adapter.getVersion({ key: 'k', versionId: unsent }), undefined);
    },
  },
  {
    name: 'versions and a record by the engine’s clock, where the adapter has it: all or nothing; taken, refused by an entry, or late, nothing lands',
    needs: ['conditionalWrites'],
    async run(adapter) {
      if (!adapter.putVersionsAndRecordBy) return;
      assert.ok(adapter.time, 'an adapter that writes by its clock tells it');
      const engineMs = await adapter.time();
      const unless = { namespace: 'refusals', id: 'tx-refused' };
      const write = (versionId: string, key: string, deadlineMs: number, id = 'tx-ok') =>
        adapter.putVersionsAndRecordBy!(
          [{ key, versionId, value: bytes(`${key} at ${versionId}`) }],
          record(versionId, [key]),
          {
            deadlineMs,
            unless: { ...unless, id },
          },
        );
      // Within its deadline: written, versions and record.
      const v = versionAt(engineMs);
      assert.equal(await write(v, 'k', engineMs + 60_000), 'created');
      assert.deepEqual(await adapter.getVersion({ key: 'k', versionId: v }), bytes(`k at ${v}`));
      assert.deepEqual(await adapter.getCommitRecord(v), record(v, ['k']));
      // Its id taken (a repeat of a write that landed learns so, even past its deadline).
      assert.equal(await write(v, 'other', engineMs - 60_000), 'taken');
      assert.equal(await adapter.getVersion({ key: 'other', versionId: v }), undefined);
      // Past its deadline by the engine's clock: nothing lands.
      const late = versionAt(engineMs);
      assert.equal(await write(late, 'k', engineMs - 1), 'late');
      assert.equal(await adapter.getCommitRecord(late), undefined);
      assert.equal(await adapter.getVersion({ key: 'k', versionId: late }), undefined);
      // Refused by an entry: nothing lands.
      await adapter.putEntry(unless.namespace, unless.id, bytes('{}'));
      const refused = versionAt(engineMs);
      assert.equal(await write(refused, 'k', engineMs + 60_000, unless.id), 'refused');
      assert.equal(await adapter.getCommitRecord(refused), undefined);
      assert.equal(await adapter.getVersion({ key: 'k', versionId: refused }), undefined);
      assert.deepEqual(await adapter.listCommitRecordIds(undefined), [v]);
    },
  },
  {
    name: 'versions and a record swapping an entry, where the adapter can: all or nothing; taken, or refused unless the entry holds what is expected, nothing lands',
    needs: ['conditionalWrites'],
    async run(adapter) {
      if (!adapter.putVersionsAndRecordSwapping) return;
      const ticket = { namespace: 'tickets', id: 'ticket-1' };
      await adapter.putEntry(ticket.namespace, ticket.id, bytes('ready'));
      const write = (versionId: string, key: string, expected = bytes('ready')) =>
        adapter.putVersionsAndRecordSwapping!(
          [{ key, versionId, value: bytes(`${key} at ${versionId}`) }],
          record(versionId, [key]),
          { ...ticket, expected, value: bytes(`spent ${versionId}`) },
        );
      // The entry holds what is expected: written, versions and record, and the entry swapped.
      const v = versionAt(13_000);
      assert.equal(await write(v, 'k'), 'created');
      assert.deepEqual(await adapter.getVersion({ key: 'k', versionId: v }), bytes(`k at ${v}`));
      assert.deepEqual(await adapter.getCommitRecord(v), record(v, ['k']));
      assert.deepEqual(await adapter.getEntry(ticket.namespace, ticket.id), bytes(`spent ${v}`));
      // Its id taken (a repeat of a write that landed learns so, its entry swapped already).
      assert.equal(await write(v, 'other'), 'taken');
      assert.equal(await adapter.getVersion({ key: 'other', versionId: v }), undefined);
      // The entry holds something else, or nothing: nothing lands, the entry is as it was.
      const refused = versionAt(13_100);
      assert.equal(await write(refused, 'k'), 'refused');
      await adapter.putEntry(ticket.namespace, ticket.id, bytes('refused'));
      assert.equal(await write(refused, 'k'), 'refused');
      assert.deepEqual(await adapter.getEntry(ticket.namespace, ticket.id), bytes('refused'));
      await adapter.deleteEntries(ticket.namespace, [ticket.id]);
      assert.equal(await write(refused, 'k'), 'refused');
      assert.equal(await adapter.getEntry(ticket.namespace, ticket.id), undefined);
      assert.equal(await adapter.getCommitRecord(refused), undefined);
      assert.equal(await adapter.getVersion({ key: 'k', versionId: refused }), undefined);
      assert.deepEqual(await adapter.listCommitRecordIds(undefined), [v]);
    },
  },
  {
    name: 'atomic write race: of many concurrent writers of one id exactly one wins, and only its versions exist',
    needs: ['conditionalWrites'],
    async run(adapter) {
      if (!adapter.putVersionsAndRecord) return;
      const v = versionAt(12_000);
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          adapter.putVersionsAndRecord!([{ key: `w${i}`, versionId: v, value: bytes(`by ${i}`) }], {
            ...record(v, [`w${i}`]),
            txid: `writer-${i}`,
          }),
        ),
      );
      assert.equal(outcomes.filter(Boolean).length, 1);
      const winner = outcomes.indexOf(true);
      assert.equal((await adapter.getCommitRecord(v))?.txid, `writer-${winner}`);
      for (let i = 0; i < 12; i++) {
        const stored = await adapter.getVersion({ key: `w${i}`, versionId: v });
        assert.deepEqual(stored, i === winner ? bytes(`by ${i}`) : undefined);
      }
    },
  },
  {
    name: 'an aborted signal rejects the call and writes nothing',
    async run(adapter) {
      const controller = new AbortController();
      controller.abort(new Error('caller gave up'));
      const signal = controller.signal;
      const v = versionAt(10_000);
      await assert.rejects(adapter.putVersions([{ key: 'k', versionId: v, value: bytes('x') }], { signal }));
      await assert.rejects(adapter.putCommitRecord(record(v, ['k']), { signal }));
      await assert.rejects(adapter.listCommitRecords(undefined, { signal }));
      await assert.rejects(adapter.getVersion({ key: 'k', versionId: v }, { signal }));
      assert.equal(await adapter.getVersion({ key: 'k', versionId: v }), undefined);
      assert.equal(await adapter.getCommitRecord(v), undefined);
    },
  },
];

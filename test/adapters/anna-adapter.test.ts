/**
 * The Anna mapping's own rules (adapters/anna.ts), on the fake: values never stored as
 * empty LWW bytes, deletes as tombstones (Anna has no DELETE), and listings that stop
 * reading old buckets once GC emptied them.
 */

import { decodeLww } from '../../adapters/anna/messages.js';
import { AnnaAdapter } from '../../adapters/anna.js';
import { formatVersionId } from '../../shim/ids.js';
import { FakeAnna } from '../servers/fake-anna.js';

let anna: FakeAnna;
let adapter: AnnaAdapter;
beforeEach(async () => {
  anna = await FakeAnna.start();
  adapter = new AnnaAdapter({ routing: [anna.routingEndpoint], prefix: 't/' });
});
afterEach(async () => {
  await adapter.close();
  anna.close();
});

const at = (ms: number, n: number) =>
  formatVersionId({ physicalMs: ms, logical: 0 }, `aaaaaaaaaa-${n}-0000beef`);
const stored = (key: string) => decodeLww(anna.store.get(key)!.payload).value;

describe('the Anna mapping', () => {
  it('stores an empty value as a marker byte, and a deleted one as a tombstone under the same key', async () => {
    const v = at(Date.now(), 1);
    await adapter.putVersions([{ key: 'k', versionId: v, value: new Uint8Array() }]);
    expect(stored(`t/v/${v}/k`)).toEqual(new Uint8Array([1]));
    expect(await adapter.getVersion({ key: 'k', versionId: v })).toEqual(new Uint8Array());
    await adapter.deleteVersions([{ key: 'k', versionId: v }]);
    expect(stored(`t/v/${v}/k`)).toEqual(new Uint8Array([0]));
    expect(await adapter.getVersion({ key: 'k', versionId: v })).toBeUndefined();
  });

  it('lists records through bucket sets, and skips settled buckets GC emptied', async () => {
    const old = [at(Date.now() - 3 * 3_600_000, 1), at(Date.now() - 3 * 3_600_000 + 1, 2)];
    const recent = at(Date.now(), 3);
    for (const versionId of [...old, recent]) {
      await adapter.putCommitRecord({
        versionId,
        txid: versionId.split('.')[1]!,
        writeSet: ['k'],
        deleted: [],
      });
    }
    expect((await adapter.listCommitRecords(undefined)).map((r) => r.versionId)).toEqual([...old, recent]);
    expect(anna.store.has('t/rlow')).toBe(false);
    await adapter.deleteCommitRecords(old);
    expect((await adapter.listCommitRecords(undefined)).map((r) => r.versionId)).toEqual([recent]);
    // The old bucket is settled and empty: the low mark moved past it...
    expect(anna.store.has('t/rlow')).toBe(true);
    const requests = anna.seen.keyRequests;
    expect((await adapter.listCommitRecords(undefined)).map((r) => r.versionId)).toEqual([recent]);
    // ...so this listing read the low mark, the bucket list, one bucket set and one record.
    expect(anna.seen.keyRequests - requests).toBe(4);
  });
});

/**
 * A node that starts while the collector deletes records knows every live commit when it
 * reports ready (docs/protocol.md, "Start-up"): a listing ends only at an empty page, never
 * at a short one (the contract allows short pages, and adapters drop records deleted between
 * listing ids and reading them).
 */
import type { ListOptions, StorageAdapter } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { createAdapterFromUrl } from '../../adapters/url.js';
import { collectGarbage } from '../../gc/collector.js';
import { formatVersionId } from '../../shim/ids.js';
import { ShimNode } from '../../shim/node.js';
import { DEFAULT_TIMING } from '../../shim/timing.js';
import { ENGINES } from '../servers/engines.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const KEYS = 24;
const ROUNDS = 8;

/** A history from before the outcome retention: KEYS keys, each written ROUNDS times. */
async function writeHistory(storage: StorageAdapter): Promise<void> {
  const startMs = Date.now() - DEFAULT_TIMING.outcomeRetentionMs - 600_000;
  let sequence = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    const records = Array.from({ length: KEYS }, (_, key) => {
      sequence += 1;
      const txid = `hhhhhhhhhh-1-${sequence.toString(36)}-${'0'.repeat(32)}`;
      const versionId = formatVersionId({ physicalMs: startMs + sequence, logical: 0 }, txid);
      return { key: `key-${key}`, versionId, round };
    });
    await storage.putVersions(
      records.map(({ key, versionId, round: r }) => ({ key, versionId, value: bytes(`round ${r}`) })),
    );
    await Promise.all(
      records.map(({ key, versionId }) =>
        storage.putCommitRecord({ versionId, txid: versionId.split('.')[1]!, writeSet: [key], deleted: [] }),
      ),
    );
  }
}

async function expectEveryKeyCurrent(node: ShimNode): Promise<void> {
  const txid = node.begin().txid;
  const keys = Array.from({ length: KEYS }, (_, key) => `key-${key}`);
  const items = await node.read(txid, keys);
  node.abort(txid);
  expect(items.map((item) => (item.value ? new TextDecoder().decode(item.value) : null))).toEqual(
    keys.map(() => `round ${ROUNDS - 1}`),
  );
}

describe('bootstrap', () => {
  it('pages on past short pages until an empty one', async () => {
    const storage = new MemoryAdapter();
    await writeHistory(storage);
    // An engine may answer fewer than asked at any time: here, a third of each page.
    const short = Object.assign(Object.create(storage) as MemoryAdapter, {
      async listCommitRecords(after: string | undefined, options?: ListOptions) {
        const page = await storage.listCommitRecords(after, options);
        return page.slice(0, Math.max(1, Math.ceil(page.length / 3)));
      },
      async listCommitRecordIds(after: string | undefined, options?: ListOptions) {
        const page = await storage.listCommitRecordIds(after, options);
        return page.slice(0, Math.max(1, Math.ceil(page.length / 3)));
      },
    });
    const node = await ShimNode.open({ storage: short, listPageSize: 30 });
    try {
      expect(node.stats.transactions).toBe(KEYS * ROUNDS);
      await expectEveryKeyCurrent(node);
    } finally {
      await node.close();
    }
  });

  describe.each([ENGINES.file, ENGINES.redis, ENGINES.redisCluster, ENGINES.s3, ENGINES.dynamodb])(
    'on $name, while the collector deletes superseded records',
    (engine) => {
      it('comes up knowing every live key', async () => {
        const url = await engine.freshStorageUrl();
        const writer = createAdapterFromUrl(url);
        const collector = createAdapterFromUrl(url);
        await writeHistory(writer);
        // The node reads slowly, in small pages, while the pass deletes records under it.
        const slow = createAdapterFromUrl(url);
        const listCommitRecords = slow.listCommitRecords.bind(slow);
        slow.listCommitRecords = async (after, options) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          return listCommitRecords(after, options);
        };
        const [report, node] = await Promise.all([
          collectGarbage({ storage: collector }),
          ShimNode.open({ storage: slow, listPageSize: 10 }),
        ]);
        try {
          expect(report.recordsDeleted).toBe(KEYS * (ROUNDS - 1));
          await expectEveryKeyCurrent(node);
        } finally {
          await Promise.all([node.close(), writer.close(), collector.close()]);
        }
      }, 60_000);
    },
  );
});

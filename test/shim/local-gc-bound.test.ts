/**
 * A running transaction keeps the versions it may still read in the node's metadata (local
 * GC stops at the oldest one). Open for long while others commit, it would hold them all:
 * past --max-held-txns superseded transactions, the oldest running transactions are aborted
 * as lost (retryable: nothing of them is visible), and local GC goes on.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { TransactionLostError } from '../../shim/errors.js';
import { ShimNode } from '../../shim/node.js';

const bytes = (value: string) => new TextEncoder().encode(value);

describe('local GC with long-open transactions', () => {
  let node: ShimNode;
  beforeEach(async () => {
    node = await ShimNode.open({ storage: new MemoryAdapter(), limits: { maxHeldTransactions: 10 } });
  });
  afterEach(() => node.close());

  async function overwrite(key: string, times: number): Promise<void> {
    for (let index = 0; index < times; index++) {
      const txid = node.begin().txid;
      node.write(txid, [{ key, value: bytes(`v${index}`) }]);
      await node.commit(txid);
    }
  }

  it('holds superseded versions for a running transaction up to the bound', async () => {
    await overwrite('k', 1);
    const open = node.begin({ timeoutMs: 900_000 }).txid;
    await overwrite('k', 8);
    expect(node.collectLocal()).toBe(0);
    expect(node.status(open).status).toBe('running');
    expect(node.stats.transactions).toBe(9);
  });

  it('past the bound aborts the oldest running transactions as lost, and collects what they held', async () => {
    await overwrite('k', 1);
    const oldest = node.begin({ timeoutMs: 900_000 }).txid;
    await overwrite('k', 12);
    const younger = node.begin({ timeoutMs: 900_000 }).txid;
    await overwrite('k', 5);
    node.collectLocal();
    const lost = await node.read(oldest, ['k']).catch((error: unknown) => error);
    expect(lost).toBeInstanceOf(TransactionLostError);
    expect((lost as TransactionLostError).retryable).toBe(true);
    expect((lost as Error).message).toMatch(/max-held-txns/);
    // The younger one holds fewer than the bound: it runs on.
    const [item] = await node.read(younger, ['k']);
    expect(new TextDecoder().decode(item!.value)).toBe('v4');
    expect(node.stats.transactions).toBe(6);
  });
});

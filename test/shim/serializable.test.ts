/**
 * Serializable transactions (docs/protocol.md, "Serializable transactions"): no lost update
 * among concurrent read-modify-writes through two nodes, no write skew, a read-only one
 * validated too, a crashed committer's claim taken over past the orphan bound and not
 * before, and a clear 400 where the engine cannot compare and set.
 */
import { MemoryAdapter } from '../../adapters/memory.js';
import { AftClient } from '../../lambda-layer/client.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { claimIdOf } from '../../shim/claims.js';
import { ConflictError } from '../../shim/errors.js';
import { formatVersionId, TxidGenerator } from '../../shim/ids.js';
import { CLAIMS_NAMESPACE } from '../../shim/namespaces.js';
import { ShimNode } from '../../shim/node.js';
import { Isolation } from '../../wire/api.js';
import { eventually } from '../helpers/eventually.js';
import { FaultyAdapter } from '../helpers/faulty-adapter.js';
import { SHORT_TIMING } from '../helpers/short-timing.js';

const serializable = { isolation: Isolation.SERIALIZABLE };
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString();

describe('serializable transactions through two nodes', () => {
  let storage: MemoryAdapter;
  let a: RunningShim;
  let b: RunningShim;
  let clientA: AftClient;
  let clientB: AftClient;
  beforeEach(async () => {
    storage = new MemoryAdapter();
    const options = { port: 0, adapter: storage, env: {} };
    a = await startShim(options);
    b = await startShim(options);
    await Promise.all([a.ready, b.ready]);
    clientA = new AftClient({ url: a.url, retry: { baseDelayMs: 5, maxDelayMs: 50 } });
    clientB = new AftClient({ url: b.url, retry: { baseDelayMs: 5, maxDelayMs: 50 } });
  });
  afterEach(() => Promise.all([a.close(), b.close()]));

  it('20 concurrent decrements of one counter, half through each node, leave exactly start - 20', async () => {
    await clientA.run(async (tx) => tx.put('stock', '100'));
    const decrement = (client: AftClient) =>
      client.run(
        async (tx) => {
          const stock = Number(text(await tx.get('stock')));
          await tx.put('stock', String(stock - 1));
        },
        { ...serializable, attempts: 40 },
      );
    await Promise.all(Array.from({ length: 20 }, (_, i) => decrement(i % 2 === 0 ? clientA : clientB)));
    const read = async (client: AftClient) => text((await client.run(async (tx) => tx.get('stock'))).result);
    expect(
      await eventually(
        () => read(clientA),
        (stock) => stock === '80',
      ),
    ).toBe('80');
    expect(
      await eventually(
        () => read(clientB),
        (stock) => stock === '80',
      ),
    ).toBe('80');
  });

  it('no write skew: of two that each read both keys and write one, one commits and one conflicts', async () => {
    await clientA.run(async (tx) => {
      await tx.put('on-call/alice', 'yes');
      await tx.put('on-call/bob', 'yes');
    });
    const first = await clientA.begin(serializable);
    const second = await clientB.begin(serializable);
    for (const tx of [first, second]) await tx.getMany(['on-call/alice', 'on-call/bob']);
    await first.put('on-call/alice', 'no');
    await second.put('on-call/bob', 'no');
    const outcomes = await Promise.allSettled([first.commit(), second.commit()]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const failed = outcomes.find(
      (outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected',
    );
    expect(failed?.reason).toBeInstanceOf(ConflictError);
    expect((failed!.reason as ConflictError).retryable).toBe(true);
  });

  it('a read-only one fails when a key it read was changed by a serializable commit since', async () => {
    await clientA.run(async (tx) => tx.put('x', '1'));
    const reader = await clientA.begin(serializable);
    expect(text(await reader.get('x'))).toBe('1');
    await clientB.run(async (tx) => tx.put('x', '2'), serializable);
    await expect(reader.commit()).rejects.toBeInstanceOf(ConflictError);
    // Run again, it reads the new value and commits.
    const again = await clientA.run(async (tx) => text(await tx.get('x')), serializable);
    expect(again.result).toBe('2');
  });

  it('a claim left by a crashed committer blocks its key until the orphan bound, then is taken over', async () => {
    await clientA.run(async (tx) => tx.put('k', 'v0'), serializable);
    const claimOf = async () =>
      JSON.parse(Buffer.from((await storage.getEntry(CLAIMS_NAMESPACE, claimIdOf('k')))!).toString());
    const released = await claimOf();
    const crashed = (atMs: number) =>
      formatVersionId({ physicalMs: atMs, logical: 0 }, new TxidGenerator('crashedcra').next());
    const encode = (claim: object) => new TextEncoder().encode(JSON.stringify(claim));
    // A committer that claimed the key a moment ago: its commit may still land.
    const recent = crashed(Date.now());
    await storage.putEntry(CLAIMS_NAMESPACE, claimIdOf('k'), encode({ holder: recent, last: released.last }));
    await expect(
      clientA.run(async (tx) => tx.put('k', 'v1'), { ...serializable, attempts: 1 }),
    ).rejects.toBeInstanceOf(ConflictError);
    // One that claimed it long ago (past the orphan bound) and never wrote its record: marked
    // aborted, and its claim taken over.
    const old = crashed(Date.now() - 10 * 60_000);
    await storage.putEntry(CLAIMS_NAMESPACE, claimIdOf('k'), encode({ holder: old, last: released.last }));
    await clientA.run(async (tx) => tx.put('k', 'v2'), { ...serializable, attempts: 1 });
    expect((await storage.getCommitRecord(old))?.aborted).toBe(true);
    expect(text((await clientA.run(async (tx) => tx.get('k'))).result)).toBe('v2');
  });

  it.each([
    ['bytes that are not JSON', '{"last": "01'],
    ['JSON that is not a claim', 'null'],
    // Read as no claim at all, it would let a commit that read an older version through.
    ['a last that is not a version id', '{"last": 17}'],
    ['a holder that is not a version id', '{"holder": ["x"]}'],
  ])(
    'a claim it cannot read (%s) fails the commit with a typed 503, not retryable, and is left',
    async (_, damaged) => {
      await clientA.run(async (tx) => tx.put('k', 'v0'), serializable);
      const id = claimIdOf('k');
      await storage.putEntry(CLAIMS_NAMESPACE, id, new TextEncoder().encode(damaged));
      const failed = await clientA
        .run(async (tx) => tx.put('k', `${await tx.get('k')}1`), { ...serializable, attempts: 1 })
        .catch((error: unknown) => error);
      expect(failed).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: false });
      expect((failed as Error).message).toContain(`claims/${id}`);
      expect(Buffer.from((await storage.getEntry(CLAIMS_NAMESPACE, id))!).toString()).toBe(damaged);
      // Keys it does not claim commit as before; read-atomic transactions take no claims.
      await clientA.run(async (tx) => tx.put('other', 'x'), serializable);
      await clientA.run(async (tx) => tx.put('k', 'v2'));
    },
  );
});

describe('where the engine cannot compare and set', () => {
  it('a serializable begin answers 400, a read-atomic one works', async () => {
    const adapter = new MemoryAdapter();
    Object.defineProperty(adapter, 'swapEntry', { value: undefined });
    const shim = await startShim({ port: 0, adapter, env: {} });
    try {
      await shim.ready;
      const client = new AftClient({ url: shim.url });
      await expect(client.begin(serializable)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await client.run(async (tx) => tx.put('k', 'v'));
    } finally {
      await shim.close();
    }
  });
});

describe('a serializable committer that dies at each point of its commit', () => {
  const TIMING = SHORT_TIMING;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  async function twoNodes() {
    const storage = new FaultyAdapter(new MemoryAdapter());
    const nodes = [0, 1].map(() => new ShimNode({ storage, timing: TIMING, reaperIntervalMs: 50 }));
    await Promise.all(nodes.map((node) => node.start()));
    return { storage, nodes, close: () => Promise.all(nodes.map((node) => node.close())) };
  }

  /** A serializable read-modify-write of `key` on `node`: reads, then writes `value`. */
  async function readModifyWrite(node: ShimNode, key: string, value: string) {
    const { txid } = node.begin({ isolation: Isolation.SERIALIZABLE });
    const [read] = await node.read(txid, [key]);
    node.write(txid, [{ key, value: encoder.encode(value) }]);
    return { txid, read: read?.value === undefined ? undefined : decoder.decode(read.value) };
  }

  it.each([
    ['after claiming, before its record', 'before'],
    ['after its record landed, before handing its claims back', 'after'],
  ] as const)(
    '%s: its keys are usable again within the orphan bound, and what it read stays consistent',
    async (_name, phase) => {
      const { storage, nodes, close } = await twoNodes();
      try {
        const [a, b] = nodes as [ShimNode, ShimNode];
        const dying = await readModifyWrite(a, 'k', 'from the dying one');
        // Its record write never answers: the committer died there (after it landed, or before).
        storage.arm({ operation: 'putVersionsAndRecord', phase, effect: 'crash' });
        void a.commit(dying.txid).catch(() => undefined);
        await eventually(
          () => storage.fired,
          (fired) => fired === 1,
        );
        storage.disarm();
        const started = performance.now();
        // Another node, reading fresh each time, commits on the key once the claim is decided.
        const committed = await eventually(
          async () => {
            await b.pull();
            const next = await readModifyWrite(b, 'k', 'from the survivor');
            return b.commit(next.txid).then(
              () => next,
              (error: unknown) => {
                if (!(error instanceof ConflictError)) throw error;
                return undefined;
              },
            );
          },
          (outcome) => outcome !== undefined,
          { timeoutMs: 5000, everyMs: 20 },
        );
        expect(committed).toBeDefined();
        // Decided from storage: at once where its record is there, past the orphan bound where not.
        expect(performance.now() - started).toBeLessThan(2000);
        // The survivor read what the dying one committed exactly when its record landed.
        expect(committed!.read).toBe(phase === 'after' ? 'from the dying one' : undefined);
        const { txid } = b.begin();
        expect(decoder.decode((await b.read(txid, ['k']))[0]!.value!)).toBe('from the survivor');
      } finally {
        await close();
      }
    },
  );
});

/**
 * The `aft serve` process is SIGKILLed while many commits are in flight, then restarted on
 * the same storage, several times in one test, on the file store (with fsync off, and on as
 * shipped), Redis, DynamoDB (DynamoDB Local) and S3 (s3rver, with conditional writes). After every restart:
 *  - every acknowledged commit is visible (G5): each key it wrote reads at its version or newer;
 *  - no transaction is partly visible (G1, G7): each value names the transaction that wrote it
 *    and that transaction's write set, and every other key of that write set reads at the
 *    same version or newer.
 */
import { AftClient } from '../../lambda-layer/client.js';
import { type AftProcess, kill9, startAftProcess } from '../helpers/processes.js';
import { ENGINES } from '../servers/engines.js';

const POOL = Array.from({ length: 12 }, (_, i) => `key/${i}`);
const WRITERS = 16;
const ROUNDS = 4;

interface Token {
  readonly txid: string;
  readonly keys: string[];
}

function pickKeys(): string[] {
  const keys = new Set<string>();
  const count = 2 + Math.floor(Math.random() * 3);
  while (keys.size < count) keys.add(POOL[Math.floor(Math.random() * POOL.length)]!);
  return [...keys];
}

/** Writers that commit until the server dies; returns the acknowledged commits. */
async function runWriters(url: string, stop: { now: boolean }): Promise<Map<string, string[]>> {
  const acknowledged = new Map<string, string[]>();
  const client = new AftClient({ url, retry: { attempts: 1 }, requestTimeoutMs: 5000 });
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (!stop.now) {
        try {
          const tx = await client.begin();
          const keys = pickKeys();
          const token: Token = { txid: tx.txid, keys };
          // Reading first makes the transaction's read set matter for the server too.
          await tx.getMany(keys);
          await tx.putMany(keys.map((key) => ({ key, value: JSON.stringify(token) })));
          const { version } = await tx.commit();
          if (version) acknowledged.set(version, keys);
        } catch {
          // The server died under us: this transaction's outcome is unknown, which is allowed.
          if (stop.now) return;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    }),
  );
  return acknowledged;
}

async function checkState(url: string, acknowledged: ReadonlyMap<string, string[]>): Promise<void> {
  const client = new AftClient({ url });
  const tx = await client.begin();
  const items = await tx.getMany(POOL);
  await tx.commit();
  const versionOf = new Map(items.map((item) => [item.key, item.version ?? '']));
  for (const [version, keys] of acknowledged) {
    for (const key of keys) {
      expect({ key, atLeast: version, read: versionOf.get(key)! >= version }).toEqual({
        key,
        atLeast: version,
        read: true,
      });
    }
  }
  for (const item of items) {
    if (!item.value) continue;
    const token = JSON.parse(Buffer.from(item.value).toString()) as Token;
    expect(token.keys).toContain(item.key);
    for (const other of token.keys) {
      const partly = {
        wrote: token.keys,
        key: other,
        olderThanWriter: versionOf.get(other)! < item.version!,
      };
      expect(partly).toEqual({ wrote: token.keys, key: other, olderThanWriter: false });
    }
  }
}

describe.each([ENGINES.file, ENGINES.fileSynced, ENGINES.redis, ENGINES.dynamodb, ENGINES.s3])(
  'SIGKILL of the aft process mid-commit, on $name',
  (engine) => {
    it(`loses no acknowledged commit and shows no partial transaction, over ${ROUNDS} kills`, async () => {
      const storage = await engine.freshStorageUrl();
      const acknowledged = new Map<string, string[]>();
      let server: AftProcess | undefined;
      try {
        for (let round = 0; round < ROUNDS; round += 1) {
          server = await startAftProcess(['--storage', storage]);
          await checkState(server.url, acknowledged);
          const stop = { now: false };
          const writing = runWriters(server.url, stop);
          // DynamoDB Local commits are slow on a busy machine: its rounds last longer.
          const roundMs = engine === ENGINES.dynamodb || engine === ENGINES.s3 ? 1500 : 400;
          await new Promise((resolve) => setTimeout(resolve, roundMs + Math.random() * roundMs));
          await kill9(server.child);
          stop.now = true;
          for (const [version, keys] of await writing) acknowledged.set(version, keys);
        }
        server = await startAftProcess(['--storage', storage]);
        await checkState(server.url, acknowledged);
        // Enough commits were acknowledged (and then checked) for the kills to have hit some.
        expect(acknowledged.size).toBeGreaterThan(10);
      } finally {
        if (server) await kill9(server.child);
      }
    }, 120_000);
  },
);

/**
 * The concurrent counter on every engine that can compare and set (issue 18): N concurrent
 * serializable decrements through two nodes end at exactly start - N.
 */
import { AftClient } from '../../lambda-layer/client.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { Isolation } from '../../wire/api.js';
import { ENGINES } from '../servers/engines.js';

const DECREMENTS = 10;
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString();

describe.each([ENGINES.file, ENGINES.redis, ENGINES.redisCluster, ENGINES.s3, ENGINES.dynamodb])(
  'the concurrent counter on $name',
  (engine) => {
    let nodes: RunningShim[] = [];
    afterEach(async () => {
      await Promise.all(nodes.map((node) => node.close()));
      nodes = [];
    });

    it(`${DECREMENTS} concurrent serializable decrements through two nodes end at exactly start - ${DECREMENTS}`, async () => {
      const storage = await engine.freshStorageUrl();
      nodes = [
        await startShim({ port: 0, storage, env: {} }),
        await startShim({ port: 0, storage, env: {} }),
      ];
      await Promise.all(nodes.map((node) => node.ready));
      const clients = nodes.map(
        (node) => new AftClient({ url: node.url, retry: { baseDelayMs: 10, maxDelayMs: 200 } }),
      );
      await clients[0]!.run(async (tx) => tx.put('stock', '100'), { isolation: Isolation.SERIALIZABLE });
      await Promise.all(
        Array.from({ length: DECREMENTS }, (_, i) =>
          clients[i % 2]!.run(
            async (tx) => {
              const stock = Number(text(await tx.get('stock')));
              await tx.put('stock', String(stock - 1));
            },
            { isolation: Isolation.SERIALIZABLE, attempts: 60 },
          ),
        ),
      );
      // A serializable read validates too: it reads the last committed value.
      const final = await clients[1]!.run(async (tx) => text(await tx.get('stock')), {
        isolation: Isolation.SERIALIZABLE,
        attempts: 60,
      });
      expect(final.result).toBe(String(100 - DECREMENTS));
    }, 60_000);
  },
);

/**
 * Three nodes on loopback over one storage, with writers and readers whose requests of one
 * transaction are spread over all nodes (forwarded to the owner): no fractured read, dirty
 * read, read-your-writes or repeatable-read violation.
 */
import { type RunningShim, startShim } from '../../server/start.js';
import { eventually } from '../helpers/eventually.js';
import { ENGINES } from '../servers/engines.js';
import { anomaliesIn, type Observation, type Token } from './anomalies.js';
import { RestError, rest, untilAcquainted } from './rest.js';

const KEYS = Array.from({ length: 8 }, (_, i) => `k${i}`);
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

// Fast heartbeats and pulls; a dead-after time long enough that a loaded machine's pause
// does not make a node fence itself (and abort its transactions) in the middle of a test.
const FAST_CLUSTER = {
  heartbeatMs: 100,
  deadAfterMs: 6000,
  pullIntervalMs: 100,
  env: {},
} as const;

async function startCluster(storage: string, count: number): Promise<RunningShim[]> {
  const nodes = await Promise.all(
    Array.from({ length: count }, () => startShim({ port: 0, storage, gc: false, ...FAST_CLUSTER })),
  );
  await Promise.all(nodes.map((node) => node.ready));
  await untilAcquainted(nodes.map((node) => node.url));
  return nodes;
}

describe.each([ENGINES.file, ENGINES.redis])('three nodes on $name', (engine) => {
  let nodes: RunningShim[];
  beforeAll(async () => {
    nodes = await startCluster(await engine.freshStorageUrl(), 3);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
  });

  it('find each other through storage and forward requests to the owner', async () => {
    const [a, b, c] = nodes.map((node) => node.url) as [string, string, string];
    const txid = await rest.begin(a);
    await rest.write(b, txid, [{ key: 'hello', value: 'from b' }]);
    expect(await rest.read(c, txid, ['hello'])).toEqual([{ key: 'hello', value: 'from b', version: null }]);
    expect(await rest.status(c, txid)).toBe('running');
    const version = await rest.commit(b, txid);
    expect(await rest.status(a, txid)).toBe('committed');
    // The others learn it within a pull interval (100 ms), or a few on a loaded machine.
    const seen = await eventually(
      async () => rest.read(c, await rest.begin(c), ['hello']),
      (items) => items[0]?.version === version,
      { everyMs: 50 },
    );
    expect(seen).toEqual([{ key: 'hello', value: 'from b', version }]);
  });

  it('push each commit to the others, long before their next pull', async () => {
    const storage = await engine.freshStorageUrl();
    const [a, b] = await Promise.all(
      [0, 1].map(() => startShim({ port: 0, storage, gc: false, ...FAST_CLUSTER, pullIntervalMs: 600_000 })),
    );
    try {
      await Promise.all([a!.ready, b!.ready]);
      await untilAcquainted([a!.url, b!.url]); // they meet through heartbeats
      const txid = await rest.begin(a!.url);
      await rest.write(a!.url, txid, [{ key: 'pushed', value: 'yes' }]);
      const version = await rest.commit(a!.url, txid);
      // b's next pull is minutes away: only the push can tell it this soon.
      const seen = await eventually(
        async () => (await rest.read(b!.url, await rest.begin(b!.url), ['pushed']))[0]?.version,
        (learned) => learned === version,
      );
      expect(seen).toBe(version);
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });

  it('show no anomaly to readers and writers spread over all nodes', async () => {
    const urls = nodes.map((node) => node.url);
    const problems: string[] = [];
    let committed = 0;
    let reads = 0;
    // Run for 4 s, and on past that until enough work is done (a loaded machine is slow, not
    // wrong), within the test's time-out.
    const deadline = Date.now() + 4000;
    const lastChance = Date.now() + 20_000;
    const running = () =>
      Date.now() < lastChance && (Date.now() < deadline || committed <= 20 || reads <= 200);
    const writer = async () => {
      while (running()) {
        const txid = await rest.begin(pick(urls));
        const keys = [...new Set([pick(KEYS), pick(KEYS), pick(KEYS)])];
        const abort = Math.random() < 0.2;
        const token: Token = { txid, keys, ...(abort && { aborted: true }) };
        await rest.write(
          pick(urls),
          txid,
          keys.map((key) => ({ key, value: JSON.stringify(token) })),
        );
        // Read-your-writes, from any node.
        const own = await rest.read(pick(urls), txid, [keys[0]!]);
        if (own[0]?.value !== JSON.stringify(token)) problems.push(`read-your-writes failed in ${txid}`);
        if (abort) await rest.abort(pick(urls), txid);
        else {
          await rest.commit(pick(urls), txid);
          committed += 1;
        }
      }
    };
    const reader = async () => {
      while (running()) {
        const txid = await rest.begin(pick(urls));
        const observations: Observation[] = [];
        for (let i = 0; i < 6; i += 1) {
          const items = await rest.read(pick(urls), txid, [pick(KEYS), pick(KEYS)]);
          observations.push(...items);
          reads += items.length;
        }
        problems.push(...anomaliesIn(observations));
        await rest.commit(pick(urls), txid).catch((error: unknown) => {
          if (!(error instanceof RestError)) throw error;
        });
      }
    };
    await Promise.all([writer(), writer(), writer(), reader(), reader(), reader()]);
    expect(problems).toEqual([]);
    expect(committed).toBeGreaterThan(20);
    expect(reads).toBeGreaterThan(200);
  }, 30_000);
});

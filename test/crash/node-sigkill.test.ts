/**
 * Three `aft serve` processes over one storage; one is SIGKILLed under load and restarted.
 * No reader sees an anomaly, the other nodes learn the dead node's last acknowledged commits
 * from storage (whether or not its pushes went out), and its transactions that were running
 * answer 410 TXN_LOST, retryable, on the other nodes.
 */

import { anomaliesIn, type Observation, type Token } from '../cluster/anomalies.js';
import { RestError, rest, untilAcquainted } from '../cluster/rest.js';
import { eventually } from '../helpers/eventually.js';
import { type AftProcess, kill9, startAftProcess } from '../helpers/processes.js';
import { ENGINES } from '../servers/engines.js';

const KEYS = Array.from({ length: 10 }, (_, i) => `key/${i}`);
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const FAST = {
  AFT_HEARTBEAT_MS: '100',
  AFT_DEAD_AFTER_MS: '1500',
  AFT_PULL_INTERVAL_MS: '100',
  AFT_GC_INTERVAL_MS: '500',
};

/**
 * What a request may meet while a node dies under it: its connection refused or cut (not a
 * RestError), its transaction lost with the node, or an answer that says to retry. Anything
 * else is a problem the test reports.
 */
const EXPECTED_WHILE_A_NODE_DIES = new Set(['TXN_LOST', 'NOT_READY', 'STORAGE_UNAVAILABLE', 'SHUTTING_DOWN']);

function unexpected(error: unknown): string | undefined {
  if (!(error instanceof RestError)) return undefined;
  return EXPECTED_WHILE_A_NODE_DIES.has(error.code) ? undefined : `unexpected ${error.message}`;
}

interface Load {
  readonly problems: string[];
  /** Read transactions whose every read answered and was judged for anomalies. */
  readonly judgedReads: { count: number };
  /** Version -> keys, of commits acknowledged by each node URL. */
  readonly acknowledged: Map<string, Map<string, readonly string[]>>;
  stop(): Promise<void>;
}

function runLoad(urls: () => readonly string[]): Load {
  const problems: string[] = [];
  const judgedReads = { count: 0 };
  const acknowledged = new Map<string, Map<string, readonly string[]>>();
  let stopping = false;
  const writer = async () => {
    while (!stopping) {
      const url = pick(urls());
      try {
        const txid = await rest.begin(url);
        const keys = [...new Set([pick(KEYS), pick(KEYS), pick(KEYS)])];
        const token: Token = { txid, keys };
        await rest.write(
          pick(urls()),
          txid,
          keys.map((key) => ({ key, value: JSON.stringify(token) })),
        );
        const version = await rest.commit(url, txid);
        if (version) {
          const byNode = acknowledged.get(url) ?? new Map<string, readonly string[]>();
          byNode.set(version, keys);
          acknowledged.set(url, byNode);
        }
      } catch (error) {
        // A node died under this transaction: its outcome is unknown, which is allowed.
        const problem = unexpected(error);
        if (problem) problems.push(`writer: ${problem}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  const reader = async () => {
    while (!stopping) {
      try {
        const url = pick(urls());
        const txid = await rest.begin(url);
        const observations: Observation[] = [];
        for (let i = 0; i < 4; i += 1)
          observations.push(...(await rest.read(url, txid, [pick(KEYS), pick(KEYS)])));
        problems.push(...anomaliesIn(observations));
        judgedReads.count += 1;
        await rest.commit(url, txid);
      } catch (error) {
        const problem = unexpected(error);
        if (problem) problems.push(`reader: ${problem}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  const running = Promise.all([writer(), writer(), writer(), writer(), reader(), reader()]);
  return {
    problems,
    judgedReads,
    acknowledged,
    async stop() {
      stopping = true;
      await running;
    },
  };
}

describe.each([ENGINES.file, ENGINES.redis])('SIGKILL of one of three nodes, on $name', (engine) => {
  it('loses no acknowledged commit, shows no anomaly, and its running transactions are lost', async () => {
    const storage = await engine.freshStorageUrl();
    const start = () => startAftProcess(['--storage', storage], FAST);
    const nodes: AftProcess[] = [await start(), await start(), await start()];
    try {
      await untilAcquainted(nodes.map((node) => node.url));
      let live = nodes.map((node) => node.url);
      const load = runLoad(() => live);
      const victim = nodes[2]!;
      // Let the victim acknowledge a few commits first (some seconds on a loaded machine).
      await eventually(
        () => load.acknowledged.get(victim.url)?.size ?? 0,
        (count) => count > 10,
        { timeoutMs: 20_000, everyMs: 50 },
      );

      const survivors = [nodes[0]!.url, nodes[1]!.url];
      const orphaned = [await rest.begin(victim.url), await rest.begin(victim.url)];
      await rest.write(victim.url, orphaned[0]!, [{ key: 'never', value: 'visible' }]);
      await kill9(victim.child);
      live = survivors;

      // Its running transactions are lost, on every other node, at once and once it is dead.
      for (const txid of orphaned) {
        const error = await rest.read(survivors[0]!, txid, ['x']).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RestError);
        expect((error as RestError).status).toBe(410);
        expect((error as RestError).code).toBe('TXN_LOST');
      }

      // Its committed transactions still answer as committed, even before it is counted dead.
      // (A commit acknowledged just before the kill is learned by the next pull, every 100 ms;
      // a loaded machine may take a few pulls.)
      const [lastVersion] = [...(load.acknowledged.get(victim.url)?.keys() ?? [])].slice(-1);
      expect(lastVersion).toBeDefined();
      const lastTxid = lastVersion!.split('.')[1]!;
      const status = await eventually(
        () => rest.status(survivors[1]!, lastTxid).catch((error: unknown) => error),
        (answer) => answer === 'committed',
        { timeoutMs: 1200, everyMs: 50 },
      );
      expect(status).toBe('committed');

      // A new node takes its place (a restarted node is a new node).
      nodes[2] = await start();
      await untilAcquainted([...survivors, nodes[2].url]);
      live = [...survivors, nodes[2].url];
      // The load runs through the new node for a while.
      const newcomer = nodes[2].url;
      const throughNewcomer = await eventually(
        () => load.acknowledged.get(newcomer)?.size ?? 0,
        (count) => count > 10,
        { timeoutMs: 20_000, everyMs: 50 },
      );
      expect(throughNewcomer).toBeGreaterThan(0);
      await load.stop();
      expect(load.problems).toEqual([]);
      // The readers really read: many transactions' reads were judged, not only errors caught.
      expect(load.judgedReads.count).toBeGreaterThan(20);

      // Every commit the dead node acknowledged is visible on every node left.
      const fromVictim = load.acknowledged.get(victim.url) ?? new Map();
      expect(fromVictim.size).toBeGreaterThan(3);
      for (const url of live) {
        const txid = await rest.begin(url);
        const items = await rest.read(url, txid, [...KEYS, 'never']);
        const versionOf = new Map(items.map((item) => [item.key, item.version ?? '']));
        for (const [version, keys] of fromVictim) {
          for (const key of keys)
            expect({ key, newEnough: versionOf.get(key)! >= version }).toEqual({ key, newEnough: true });
        }
        expect(versionOf.get('never')).toBe('');
        // Lost, once this node has seen the dead one's heartbeat stand still for its dead-after
        // time (the newcomer met it only now); until then, "not decided yet, ask again".
        for (const id of orphaned) {
          const answer = await eventually(
            () => rest.status(url, id).catch((e: unknown) => e),
            (error) => (error as RestError).code !== 'NOT_READY',
            { timeoutMs: 5_000, everyMs: 100 },
          );
          expect((answer as RestError).code).toBe('TXN_LOST');
        }
      }
    } finally {
      await Promise.all(nodes.map((node) => kill9(node.child)));
    }
  }, 60_000);
});

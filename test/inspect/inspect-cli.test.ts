/**
 * `aft inspect` as an operator runs it, on every engine of the suite: a node commits through
 * the REST API, then each command reads the same storage URL from its own process.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AftClient } from '../../lambda-layer/client.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { fakeAnnaEngine } from '../helpers/fake-anna-engine.js';
import { AFT_BIN } from '../helpers/processes.js';
import { ENGINES } from '../servers/engines.js';

const annaEngine = fakeAnnaEngine();

async function aft(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [AFT_BIN, ...args], { timeout: 60_000 });
  return stdout;
}

describe.each([ENGINES.file, ENGINES.redis, ENGINES.redisCluster, ENGINES.s3, ENGINES.dynamodb, annaEngine])(
  'aft inspect on $name',
  (engine) => {
    let node: RunningShim | undefined;
    afterEach(async () => {
      await node?.close();
      node = undefined;
    });

    it('shows the members, the commits, a key and the counts', async () => {
      const storage = await engine.freshStorageUrl();
      node = await startShim({ port: 0, storage, env: {} });
      await node.ready;
      const client = new AftClient({ url: node.url });
      for (const value of ['1', '2'])
        await client.run(async (tx) =>
          tx.putMany([
            { key: 'k', value },
            { key: 'other', value },
          ]),
        );
      await client.run(async (tx) => tx.delete('other'));

      const members = JSON.parse(await aft('inspect', 'members', '--json', '--storage', storage)) as {
        nodeId: string;
        url: string;
        state: string;
      }[];
      expect(members).toEqual([
        expect.objectContaining({ nodeId: node.node.nodeId, url: node.url, state: 'live' }),
      ]);

      const commits = (await aft('inspect', 'commits', '--json', '--since', '10m', '--storage', storage))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { keys: string[]; deleted: string[]; txid: string });
      expect(commits.map(({ keys, deleted }) => ({ keys: [...keys].sort(), deleted }))).toEqual([
        { keys: ['k', 'other'], deleted: [] },
        { keys: ['k', 'other'], deleted: [] },
        { keys: ['other'], deleted: ['other'] },
      ]);

      const key = JSON.parse(await aft('inspect', 'key', 'k', '--json', '--storage', storage)) as {
        versions: { state: string; bytes?: number }[];
      };
      expect(key.versions.map(({ state, bytes }) => ({ state, bytes }))).toEqual([
        { state: 'superseded', bytes: 1 },
        { state: 'visible', bytes: 1 },
      ]);

      const stats = JSON.parse(await aft('inspect', 'stats', '--json', '--storage', storage)) as Record<
        string,
        unknown
      >;
      expect(stats).toMatchObject({
        members: 1,
        liveMembers: 1,
        commitRecords: 3,
        keys: 2,
        deletedKeys: 1,
        versions: 4,
      });

      // Text, as a terminal shows it.
      expect(await aft('inspect', 'key', 'other', '--storage', storage)).toMatch(
        /^key "other": 3 version\(s\)/,
      );
      expect(await aft('inspect', 'members', '--storage', storage)).toContain(
        `${node.node.nodeId}  ${node.url}  live`,
      );
    }, 90_000);
  },
);

describe('aft inspect, refused', () => {
  it('names a bad --since and exits 2', async () => {
    const failure = await promisify(execFile)(process.execPath, [
      AFT_BIN,
      'inspect',
      'commits',
      '--since',
      'soon',
      '--storage',
      'memory:',
    ])
      .then(() => undefined)
      .catch((error: { code?: number; stderr?: string }) => error);
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toMatch(/--since soon: expected a duration/);
  });
});

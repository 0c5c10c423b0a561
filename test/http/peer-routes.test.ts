/**
 * Peer routes under attack (docs/protocol.md, "Pushed records"): only the peer credential
 * passes them, a client token never does; and what even a genuine peer pushes can neither
 * move a node's clock past now + the allowed skew nor hide or corrupt a committed version.
 */
import { type CommitRecord, MAX_KEY_BYTES } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { type RunningShim, startShim } from '../../server/start.js';
import { ConfigError } from '../../shim/config.js';
import { formatVersionId, parseVersionId, TxidGenerator } from '../../shim/ids.js';
import { eventually } from '../helpers/eventually.js';
import { HoldingAdapter } from '../helpers/holding-adapter.js';
import { httpClient } from '../helpers/http.js';
import { startPushingPair } from '../helpers/pushing-pair.js';
import { expectError } from './rest-api-suite.js';

const keyPath = (txid: string, key: string) => `/v1/transactions/${txid}/keys/${encodeURIComponent(key)}`;
const MINUTE = 60_000;
const manyKeys = Array.from({ length: 20 }, (_, i) => `many/${i}`);
const peerTxids = new TxidGenerator('peerpeerpe');

/** A well-formed record of a transaction of a peer, at `atMs` (no version of it is stored). */
function peerRecord(atMs: number, writeSet: string[], deleted: string[] = []): CommitRecord {
  const txid = peerTxids.next();
  return { versionId: formatVersionId({ physicalMs: atMs, logical: 0 }, txid), txid, writeSet, deleted };
}

describe('peer routes take the peer credential only', () => {
  let shim: RunningShim;
  beforeAll(async () => {
    shim = await startShim({
      port: 0,
      storage: 'memory:',
      tokens: ['client-token'],
      peerTokens: ['peer-token'],
    });
    await shim.ready;
  });
  afterAll(() => shim.close());

  it('refuses an anonymous caller and a client token; takes the peer token', async () => {
    const body = { json: { records: [] } };
    expectError(await httpClient(shim.url)('POST', '/v1/internal/commits', body), 401, 'UNAUTHORIZED');
    const client = httpClient(shim.url, { authorization: 'Bearer client-token' });
    expectError(await client('POST', '/v1/internal/commits', body), 403, 'FORBIDDEN');
    const peer = httpClient(shim.url, { authorization: 'Bearer peer-token' });
    expect((await peer('POST', '/v1/internal/commits', body)).json).toEqual({ learned: 0, refused: 0 });
    // Who a node is: operators ask with a client token, static peers with the peer token.
    expect((await client('GET', '/v1/node')).status).toBe(200);
    expect((await peer('GET', '/v1/node')).status).toBe(200);
    expectError(await peer('POST', '/v1/transactions'), 403, 'FORBIDDEN');
  });

  it('a peer token that is also a client token is a ConfigError', async () => {
    await expect(
      startShim({ port: 0, storage: 'memory:', tokens: ['same'], peerTokens: ['same'] }),
    ).rejects.toThrow(ConfigError);
  });
});

describe('with no peer token set', () => {
  it('refuses everyone on the peer routes though client auth is off; the nodes share a secret in storage and push with it', async () => {
    const { a, b, close } = await startPushingPair();
    try {
      expectError(
        await httpClient(b.url)('POST', '/v1/internal/commits', { json: { records: [] } }),
        401,
        'UNAUTHORIZED',
      );
      const callA = httpClient(a.url);
      const callB = httpClient(b.url);
      // Commit until b has learned one: a pushes only to the members it has seen, and may not
      // have seen b for the first commits.
      const learned = await eventually(
        async () => {
          const txid = ((await callA('POST', '/v1/transactions')).json as { txid: string }).txid;
          await callA('PUT', keyPath(txid, 'k'), { raw: 'pushed' });
          await callA('POST', `/v1/transactions/${txid}/commit`);
          const reader = ((await callB('POST', '/v1/transactions')).json as { txid: string }).txid;
          return (await callB('GET', keyPath(reader, 'k'))).status;
        },
        (status) => status === 200,
        { everyMs: 100 },
      );
      expect(learned).toBe(200);
    } finally {
      await close();
    }
  });
});

describe('what a genuine peer pushes is checked', () => {
  let shim: RunningShim;
  let storage: MemoryAdapter;
  let call: ReturnType<typeof httpClient>;
  let peer: ReturnType<typeof httpClient>;
  const push = async (...records: CommitRecord[]) =>
    (await peer('POST', '/v1/internal/commits', { json: { records } })).json;
  const begin = async () => ((await call('POST', '/v1/transactions')).json as { txid: string }).txid;
  const commitOne = async (key: string, value: string): Promise<string> => {
    const txid = await begin();
    await call('PUT', keyPath(txid, key), { raw: value });
    return ((await call('POST', `/v1/transactions/${txid}/commit`)).json as { version: string }).version;
  };
  /** A time whose version ids sort after `version` (the same millisecond might not). */
  const laterThan = (version: string) => Math.max(Date.now(), parseVersionId(version)!.physicalMs + 1);
  const readText = async (key: string) => {
    const answer = await call('GET', keyPath(await begin(), key));
    return { status: answer.status, text: Buffer.from(answer.bytes).toString('utf8') };
  };

  beforeEach(async () => {
    storage = new MemoryAdapter();
    shim = await startShim({ port: 0, adapter: storage, peerTokens: ['peer-token'], env: {} });
    await shim.ready;
    call = httpClient(shim.url);
    peer = httpClient(shim.url, { authorization: 'Bearer peer-token' });
  });
  afterEach(() => shim.close());

  it('a record from a clock far ahead is refused, and the node keeps committing at its own time', async () => {
    const future = peerRecord(Date.now() + 10 * MINUTE, ['k']);
    await storage.putVersions([{ key: 'k', versionId: future.versionId, value: new Uint8Array([1]) }]);
    expect(await push(future)).toEqual({ learned: 0, refused: 1 });
    const version = await commitOne('other', 'v');
    expect(parseVersionId(version)!.physicalMs).toBeLessThan(Date.now() + MINUTE);
    expect((await readText('k')).status).toBe(404);
  });

  it('a record in storage from a clock far ahead is learned, but the clock does not follow it', async () => {
    const future = peerRecord(Date.now() + 10 * MINUTE, ['k']);
    await storage.putVersions([{ key: 'k', versionId: future.versionId, value: new Uint8Array([1]) }]);
    await storage.putCommitRecord(future);
    await shim.node.pull();
    expect((await readText('k')).status).toBe(200);
    const version = await commitOne('other', 'v');
    expect(parseVersionId(version)!.physicalMs).toBeLessThan(Date.now() + MINUTE);
  });

  it.each([
    ['an abort marker', (r: CommitRecord) => ({ ...r, writeSet: [], aborted: true as const })],
    ['a version id that does not carry its txid', (r: CommitRecord) => ({ ...r, txid: peerTxids.next() })],
    ['a malformed txid', (r: CommitRecord) => ({ ...r, txid: 'peer-1' })],
    ['an empty write set', (r: CommitRecord) => ({ ...r, writeSet: [] })],
    ['a deleted key outside the write set', (r: CommitRecord) => ({ ...r, deleted: ['elsewhere'] })],
    ['a key twice', (r: CommitRecord) => ({ ...r, writeSet: ['k', 'k'] })],
    ['a key twice among many', (r: CommitRecord) => ({ ...r, writeSet: [...manyKeys, 'k', 'many/3'] })],
    ['a deleted key twice', (r: CommitRecord) => ({ ...r, writeSet: ['k', 'j'], deleted: ['k', 'k'] })],
    [
      'a deleted key outside a long write set',
      (r: CommitRecord) => ({ ...r, writeSet: ['k', ...manyKeys], deleted: ['k', 'elsewhere'] }),
    ],
    // Fewer UTF-16 code units than the limit has bytes, more bytes of UTF-8 than it allows.
    [
      'a key over the byte limit',
      (r: CommitRecord) => ({ ...r, writeSet: ['k', 'é'.repeat(MAX_KEY_BYTES / 2 + 1)] }),
    ],
  ])('%s is refused', async (_name, spoil) => {
    // Newer than the commit: were it learned, reads would choose it.
    const committed = await commitOne('k', 'committed');
    expect(await push(spoil(peerRecord(laterThan(committed), ['k'])))).toEqual({ learned: 0, refused: 1 });
    expect(await readText('k')).toEqual({ status: 200, text: 'committed' });
  });

  it('a newer version storage does not hold cannot make a committed key unreadable', async () => {
    const committed = await commitOne('k', 'committed');
    expect(await push(peerRecord(laterThan(committed), ['k', 'j']))).toEqual({ learned: 1, refused: 0 });
    expect(await readText('k')).toEqual({ status: 200, text: 'committed' });
    // Dropped for good: the next read does not look again.
    expect(shim.node.stats.transactions).toBe(1);
  });

  it('a newer version storage does not hold cannot make local GC drop the committed one it seems to supersede', async () => {
    const committed = await commitOne('k', 'committed');
    expect(await push(peerRecord(laterThan(committed), ['k']))).toEqual({ learned: 1, refused: 0 });
    // No transaction runs: local GC may drop every version a newer one supersedes.
    shim.node.collectLocal();
    expect(await readText('k')).toEqual({ status: 200, text: 'committed' });
    expect(await readText('k')).toEqual({ status: 200, text: 'committed' });
  });

  it('a tombstone storage does not hold cannot hide a committed key', async () => {
    const committed = await commitOne('k', 'committed');
    expect(await push(peerRecord(laterThan(committed), ['k'], ['k']))).toEqual({ learned: 1, refused: 0 });
    expect(await readText('k')).toEqual({ status: 200, text: 'committed' });
  });

  it('a genuine pushed tombstone is confirmed by storage and hides the key', async () => {
    const committed = await commitOne('k', 'committed');
    const deletion = peerRecord(laterThan(committed), ['k'], ['k']);
    await storage.putCommitRecord(deletion);
    expect(await push(deletion)).toEqual({ learned: 1, refused: 0 });
    expect((await readText('k')).status).toBe(404);
  });

  it('a pushed record a read confirmed in storage lets local GC drop what it supersedes', async () => {
    const committed = await commitOne('k', 'committed');
    const deletion = peerRecord(laterThan(committed), ['k'], ['k']);
    await storage.putCommitRecord(deletion);
    expect(await push(deletion)).toEqual({ learned: 1, refused: 0 });
    // The read lands on the pushed tombstone and reads its record from storage first.
    expect((await readText('k')).status).toBe(404);
    expect(shim.node.collectLocal()).toBe(1);
    expect(shim.node.stats.transactions).toBe(1);
  });

  it('a record that claims part of a real commit is replaced by the real one when they meet', async () => {
    const real = peerRecord(Date.now(), ['a', 'b']);
    await storage.putVersions(
      ['a', 'b'].map((key) => ({
        key,
        versionId: real.versionId,
        value: new TextEncoder().encode(`real ${key}`),
      })),
    );
    // Pushed before the real record lands: a reader would see a without b (a fractured read).
    expect(await push({ ...real, writeSet: ['a'] })).toEqual({ learned: 1, refused: 0 });
    await storage.putCommitRecord(real);
    // The owner's own push of its record disagrees: storage decides.
    expect(await push(real)).toEqual({ learned: 0, refused: 0 });
    const b = await eventually(
      () => readText('b'),
      (read) => read.status === 200,
    );
    expect(b).toEqual({ status: 200, text: 'real b' });
  });

  it('a read that finds a forged record already dropped by another read chooses again', async () => {
    await shim.close();
    const holding = new HoldingAdapter(new MemoryAdapter());
    shim = await startShim({ port: 0, adapter: holding.adapter, peerTokens: ['peer-token'], env: {} });
    await shim.ready;
    call = httpClient(shim.url);
    peer = httpClient(shim.url, { authorization: 'Bearer peer-token' });
    const committed = await commitOne('k', 'committed');
    const forged = peerRecord(laterThan(committed), ['k']);
    await push(forged);
    // Both reads choose the forged version; their look-ups are held, then let go one at a
    // time: the second finds the record already dropped by the first.
    holding.hold('getVersion', ([ref]) => (ref as { versionId: string }).versionId === forged.versionId);
    const first = readText('k');
    const second = readText('k');
    await holding.waitForHeld(2);
    holding.stopHolding();
    await holding.land('getVersion');
    expect(await Promise.race([first, second])).toEqual({ status: 200, text: 'committed' });
    await holding.land('getVersion');
    expect(await first).toEqual({ status: 200, text: 'committed' });
    expect(await second).toEqual({ status: 200, text: 'committed' });
  });
});

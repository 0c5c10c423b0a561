/**
 * The Anna client's handling of the real server's behaviour, against the fake Anna with
 * faults injected: lost replies, WRONG_THREAD, invalidate, NO_SERVERS, lattice mismatches,
 * and a clean shutdown.
 */
import { AnnaClient, AnnaRequestError } from '../../adapters/anna/client.js';
import { AnnaError, decodeLww, encodeLww, encodeSet, LatticeType } from '../../adapters/anna/messages.js';
import { FakeAnna } from '../servers/fake-anna.js';

let anna: FakeAnna;
let client: AnnaClient;
const lww = (text: string, timestamp = 1n) => encodeLww({ timestamp, value: new TextEncoder().encode(text) });
const valueIn = (payload: Uint8Array | undefined) => new TextDecoder().decode(decodeLww(payload!).value);

beforeEach(async () => {
  anna = await FakeAnna.start({ threads: 3 });
  client = await AnnaClient.open({ routing: [anna.routingEndpoint], timeoutMs: 150, attempts: 5 });
});
afterEach(async () => {
  await client.close();
  anna.close();
});

describe('the Anna client', () => {
  it('puts and gets, one lookup per key, then from its cache', async () => {
    await client.put('k', LatticeType.LWW, lww('v'));
    expect(valueIn((await client.get('k')).payload)).toBe('v');
    expect(anna.seen.lookups).toBe(1);
    expect((await client.get('missing')).error).toBe(AnnaError.KEY_DNE);
  });

  it('retries a request whose reply was lost', async () => {
    await client.put('k', LatticeType.LWW, lww('v'));
    const before = anna.seen.keyRequests;
    anna.faults.dropReplies = 2;
    expect(valueIn((await client.get('k')).payload)).toBe('v');
    expect(anna.seen.keyRequests - before).toBeGreaterThanOrEqual(2);
  });

  it('looks the key up again after WRONG_THREAD', async () => {
    await client.put('k', LatticeType.LWW, lww('v'));
    const lookups = anna.seen.lookups;
    anna.faults.wrongThread = 1;
    expect(valueIn((await client.get('k')).payload)).toBe('v');
    expect(anna.seen.lookups).toBe(lookups + 1);
  });

  it('drops a cache entry Anna invalidates, keeping the answer', async () => {
    await client.put('k', LatticeType.LWW, lww('v'));
    anna.faults.invalidate = 1;
    expect(valueIn((await client.get('k')).payload)).toBe('v');
    const lookups = anna.seen.lookups;
    await client.get('k');
    expect(anna.seen.lookups).toBe(lookups + 1);
  });

  it('backs off and retries while routing answers NO_SERVERS', async () => {
    anna.faults.noServers = 2;
    await client.put('k', LatticeType.LWW, lww('v'));
    expect(anna.seen.lookups).toBe(3);
  });

  it('counts a PUT done only when Anna applied it with the same lattice type', async () => {
    await client.put('k', LatticeType.LWW, lww('v'));
    await expect(client.put('k', LatticeType.SET, encodeSet({ values: [] }))).rejects.toThrow(
      /did not apply the PUT/,
    );
    await expect(client.put('other', LatticeType.NONE, lww('v'))).rejects.toThrow(AnnaRequestError);
    expect(valueIn((await client.get('k')).payload)).toBe('v');
  });

  it('gives up with a clear error after its attempts when Anna never answers', async () => {
    anna.faults.dropReplies = 1000;
    await expect(client.get('k')).rejects.toThrow(/GET of "k" failed: no reply/);
    // Five attempts (as configured), each ended by its own timeout: not one more, no hang.
    expect(anna.seen).toEqual({ lookups: 5, keyRequests: 0 });
  });

  it('matches many concurrent replies to their requests', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `key-${i}`);
    await Promise.all(keys.map((key) => client.put(key, LatticeType.LWW, lww(`value of ${key}`))));
    const values = await Promise.all(keys.map(async (key) => valueIn((await client.get(key)).payload)));
    expect(values).toEqual(keys.map((key) => `value of ${key}`));
  });

  it('rejects at once with an aborted signal, and closes cleanly: in-flight requests finish, later ones fail', async () => {
    const controller = new AbortController();
    controller.abort(new Error('gave up'));
    await expect(client.get('k', controller.signal)).rejects.toThrow('gave up');
    const inFlight = client.put('k', LatticeType.LWW, lww('v'));
    const closed = client.close();
    await inFlight;
    await closed;
    await expect(client.get('k')).rejects.toThrow(/closed/);
    client = await AnnaClient.open({ routing: [anna.routingEndpoint], timeoutMs: 150 });
  });
});

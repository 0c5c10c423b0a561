/**
 * A read's signal (ShimNode.read): what a client's going away aborts. The HTTP routes hand the
 * node a function that makes the request's signal, so a read the cache answers makes none (an
 * AbortController and a listener on the response, a tenth of a cached read's CPU); a read that
 * goes to storage makes it, and the client's going away still stops that storage call.
 */
import { request as httpRequest } from 'node:http';
import type { CallOptions, VersionRef } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import { startShim } from '../../server/start.js';
import { ShimNode } from '../../shim/node.js';
import { eventually } from '../helpers/eventually.js';
import { httpClient } from '../helpers/http.js';

const bytes = (value: string) => new TextEncoder().encode(value);

/** An in-process store whose version reads of `key` wait until their signal aborts. */
class StalledReads extends MemoryAdapter {
  readonly signals: (AbortSignal | undefined)[] = [];
  constructor(private readonly key: string) {
    super();
  }
  override async getVersion(ref: VersionRef, options?: CallOptions): Promise<Uint8Array | undefined> {
    if (ref.key !== this.key) return super.getVersion(ref, options);
    this.signals.push(options?.signal);
    return new Promise((_, reject) => {
      options?.signal?.addEventListener('abort', () => reject(options.signal?.reason), { once: true });
    });
  }
}

/** Commits `key` = `value` (null: a delete) through a node of its own, so another node's cache lacks it. */
async function committedElsewhere(storage: MemoryAdapter, key: string, value: string | null): Promise<void> {
  const writer = await ShimNode.open({ storage });
  const { txid } = writer.begin();
  writer.write(txid, [{ key, value: value === null ? null : bytes(value) }]);
  await writer.commit(txid);
  await writer.close();
}

describe('a read signal', () => {
  it('is made only when the read goes to storage, and its abort reaches that call', async () => {
    const storage = new MemoryAdapter();
    await committedElsewhere(storage, 'k', 'v');
    await committedElsewhere(storage, 'gone', null);
    const node = await ShimNode.open({ storage });
    try {
      let made = 0;
      const caller = new AbortController();
      const signal = () => {
        made += 1;
        return caller.signal;
      };
      const { txid } = node.begin();
      // Not in this node's cache: storage, and the signal with it.
      expect((await node.read(txid, ['k'], { signal }))[0]?.value).toEqual(bytes('v'));
      expect(made).toBe(1);
      // Cached now: no storage call, no signal.
      expect((await node.read(txid, ['k'], { signal }))[0]?.value).toEqual(bytes('v'));
      expect(made).toBe(1);
      // A key no transaction wrote, and one deleted by a record storage listed: nothing to fetch.
      expect((await node.read(txid, ['absent', 'gone'], { signal })).map(({ value }) => value)).toEqual([
        undefined,
        undefined,
      ]);
      expect(made).toBe(1);
    } finally {
      await node.close();
    }
  });

  it('stops a storage read when the HTTP client goes away before its answer', async () => {
    const storage = new StalledReads('k');
    await committedElsewhere(storage, 'k', 'v');
    const shim = await startShim({ port: 0, adapter: storage, env: {} });
    try {
      await shim.ready;
      const { txid } = (await httpClient(shim.url)('POST', '/v1/transactions')).json as { txid: string };
      const req = httpRequest(`${shim.url}/v1/transactions/${txid}/keys/k`);
      req.on('error', () => undefined);
      req.end();
      await eventually(
        () => storage.signals.length,
        (count) => count === 1,
      );
      expect(storage.signals[0]?.aborted).toBe(false);
      req.destroy();
      expect(
        await eventually(
          () => storage.signals[0]?.aborted,
          (aborted) => aborted === true,
        ),
      ).toBe(true);
    } finally {
      await shim.close();
    }
  });
});

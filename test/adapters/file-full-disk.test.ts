/**
 * The embedded file store on a disk that fills up: a commit that meets ENOSPC fails as a
 * retryable STORAGE_UNAVAILABLE with nothing of it visible, leaves no partial file taking the
 * space that is left, and once space is freed the retried function commits and a fresh node
 * over the directory reads it.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FileAdapter } from '../../adapters/file.js';
import { startShim } from '../../server/start.js';
import { FullDisk } from '../helpers/full-disk.js';
import { tempDirectories } from '../helpers/temp-dir.js';

const VALUE = Buffer.alloc(4096, 7).toString('base64');
const tempDir = tempDirectories();

describe('the file store on a full disk', () => {
  it('fails a commit retryably, leaves no partial file behind, and commits once space is freed', async () => {
    const directory = tempDir();
    const disk = new FullDisk(Number.POSITIVE_INFINITY);
    const shim = await startShim({
      port: 0,
      host: '127.0.0.1',
      adapter: new FileAdapter({ directory, fileSystem: disk.fileSystem }),
      env: {},
    });
    try {
      await shim.ready;
      const commitOnce = async () => {
        const begun = await fetch(`${shim.url}/v1/transactions`, { method: 'POST' });
        const { txid } = (await begun.json()) as { txid: string };
        return fetch(`${shim.url}/v1/transactions/${txid}/commit`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            items: [
              { key: 'a', value: VALUE },
              { key: 'b', value: VALUE },
            ],
          }),
        });
      };
      // Room for part of the commit's first file only.
      disk.freeBytes = 1000;
      const refused = await commitOnce();
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ error: { code: 'STORAGE_UNAVAILABLE', retryable: true } });
      // What failed to be written does not keep the space that is left.
      expect(readdirSync(join(directory, 'tmp'))).toEqual([]);
      const read = async () => {
        const begun = await fetch(`${shim.url}/v1/transactions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ read: ['a', 'b'] }),
        });
        return ((await begun.json()) as { items: { value: string | null }[] }).items.map(
          (item) => item.value,
        );
      };
      expect(await read()).toEqual([null, null]);

      disk.free();
      const committed = await commitOnce();
      expect(committed.status).toBe(200);
      expect(await read()).toEqual([VALUE, VALUE]);
    } finally {
      await shim.close();
    }
    const fresh = await startShim({ port: 0, host: '127.0.0.1', storage: `file:${directory}`, env: {} });
    try {
      await fresh.ready;
      const begun = await fetch(`${fresh.url}/v1/transactions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ read: ['a', 'b'] }),
      });
      const { items } = (await begun.json()) as { items: { value: string | null }[] };
      expect(items.map((item) => item.value)).toEqual([VALUE, VALUE]);
    } finally {
      await fresh.close();
    }
  });
});

/**
 * A page of entries on the file store reads the files of that page only: it read every entry
 * of the namespace before, so listing a namespace of n entries in pages cost n²/page reads
 * (the collector's notes hold one entry per record kept). Swapped entries list in order too.
 */
import * as fs from 'node:fs/promises';
import { FileAdapter, type FileSystem } from '../../adapters/file.js';
import { tempDirectories } from '../helpers/temp-dir.js';

const newDirectory = tempDirectories();
const bytes = (text: string) => new TextEncoder().encode(text);

/** node:fs/promises, counting the files read. */
function countingFs(): FileSystem & { reads: number } {
  const counting = {
    ...fs,
    reads: 0,
    readFile: ((...args: Parameters<typeof fs.readFile>) => {
      counting.reads += 1;
      return fs.readFile(...args);
    }) as typeof fs.readFile,
  };
  return counting;
}

describe('listing entries on the file store', () => {
  it('reads the files of the page, not of the whole namespace', async () => {
    const fileSystem = countingFs();
    const adapter = new FileAdapter({ directory: await newDirectory(), fsync: false, fileSystem });
    for (let i = 0; i < 300; i += 1)
      await adapter.putEntry('notes', `id-${String(i).padStart(3, '0')}`, bytes(`${i}`));
    fileSystem.reads = 0;
    const page = await adapter.listEntries('notes', { after: 'id-099', limit: 10 });
    expect(page.map((entry) => entry.id)).toEqual(Array.from({ length: 10 }, (_, i) => `id-${100 + i}`));
    expect(fileSystem.reads).toBeLessThanOrEqual(10);
  });

  it('lists swapped and plain entries in one order, skipping deleted ones, a page at a time', async () => {
    const adapter = new FileAdapter({ directory: await newDirectory(), fsync: false });
    for (const id of ['a', 'c', 'e', 'g']) await adapter.putEntry('claims', id, bytes(id));
    for (const id of ['b', 'd', 'f'])
      expect(await adapter.swapEntry('claims', id, undefined, bytes(id))).toBe(true);
    await adapter.deleteEntries('claims', ['c', 'd']);
    const ids: string[] = [];
    for (let after: string | undefined; ; ) {
      const page = await adapter.listEntries('claims', { limit: 2, ...(after && { after }) });
      if (page.length === 0) break;
      ids.push(...page.map((entry) => entry.id));
      after = page[page.length - 1]!.id;
    }
    expect(ids).toEqual(['a', 'b', 'e', 'f', 'g']);
  });
});

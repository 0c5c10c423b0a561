/**
 * swapEntry on the file store (adapters/file-swaps.ts): one winner per generation across
 * processes sharing the directory, old generations pruned, and a swapper that paused past
 * the bounds (and whose generation's name was pruned and is free again) told it lost.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { FileAdapter, type FileSystem } from '../../adapters/file.js';
import { type SwapBounds, SwappedEntries } from '../../adapters/file-swaps.js';
import { tempDirectories } from '../helpers/temp-dir.js';

const newDirectory = tempDirectories();
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString();

/** One "process": its own SwappedEntries over the shared directory. */
function swapperOn(root: string, fileSystem: FileSystem, bounds: SwapBounds, name: string): SwappedEntries {
  let counter = 0;
  return new SwappedEntries(
    {
      fs: fileSystem,
      root,
      writeTemp: async (value) => {
        counter += 1;
        await fs.mkdir(join(root, 'tmp'), { recursive: true });
        const path = join(root, 'tmp', `${name}-${counter}`);
        await fs.writeFile(path, value);
        return path;
      },
      ensureDirectory: async (directory) => void (await fs.mkdir(directory, { recursive: true })),
      syncDirectory: async () => undefined,
    },
    bounds,
  );
}

const generationsOf = async (root: string) => (await fs.readdir(join(root, 'swapped', 'claims', 'k'))).sort();

describe('swapEntry on the file store', () => {
  it('many processes swapping from one value: one wins each generation', async () => {
    const root = newDirectory();
    const swappers = Array.from({ length: 8 }, (_, i) =>
      swapperOn(root, fs, { maxSwapMs: 5000, pruneAgeMs: 60_000 }, `p${i}`),
    );
    const plain = async () => undefined;
    expect(await swappers[0]!.swap('claims', 'k', undefined, bytes('free'), plain)).toBe(true);
    for (let round = 0; round < 5; round += 1) {
      const current = await swappers[0]!.newest('claims', 'k');
      const outcomes = await Promise.all(
        swappers.map((swapper, i) =>
          swapper.swap('claims', 'k', current!.value, bytes(`r${round}-p${i}`), plain),
        ),
      );
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      expect(text((await swappers[0]!.newest('claims', 'k'))!.value)).toBe(
        `r${round}-p${outcomes.indexOf(true)}`,
      );
    }
  });

  it('prunes all but the newest two generations once old enough', async () => {
    const root = newDirectory();
    const swapper = swapperOn(root, fs, { maxSwapMs: 5000, pruneAgeMs: 0 }, 'p');
    const plain = async () => undefined;
    let previous: Uint8Array | undefined;
    for (let i = 0; i < 6; i += 1) {
      expect(await swapper.swap('claims', 'k', previous, bytes(`v${i}`), plain)).toBe(true);
      previous = bytes(`v${i}`);
    }
    expect(await generationsOf(root)).toEqual(['000000000005', '000000000006']);
  });

  it('a swapper paused past the bounds, linking a name pruned meanwhile, is told it lost and leaves no trace', async () => {
    const root = newDirectory();
    const bounds = { maxSwapMs: 0, pruneAgeMs: 0 };
    let release: () => void = () => undefined;
    let paused = false;
    // The paused process's link waits until the others have moved on.
    const pausing: FileSystem = {
      ...fs,
      link: async (existing, target) => {
        if (!paused) {
          paused = true;
          await new Promise<void>((resolve) => {
            release = resolve;
          });
        }
        return fs.link(existing, target);
      },
    };
    const plain = async () => undefined;
    const others = swapperOn(root, fs, bounds, 'others');
    await others.swap('claims', 'k', undefined, bytes('a'), plain);
    const late = swapperOn(root, pausing, bounds, 'late').swap(
      'claims',
      'k',
      bytes('a'),
      bytes('stale'),
      plain,
    );
    while (!paused) await new Promise((resolve) => setTimeout(resolve, 1));
    for (const [from, to] of [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
    ] as const) {
      expect(await others.swap('claims', 'k', bytes(from), bytes(to), plain)).toBe(true);
    }
    // Generation 2, the one the paused swapper will link, was pruned: its name is free.
    expect(await generationsOf(root)).toEqual(['000000000003', '000000000004']);
    release();
    expect(await late).toBe(false);
    expect(text((await others.newest('claims', 'k'))!.value)).toBe('d');
    expect(await generationsOf(root)).toEqual(['000000000003', '000000000004']);
  });

  it('through the adapter: a deleted entry keeps its numbering, so an old value never matches again', async () => {
    const adapter = new FileAdapter({ directory: newDirectory(), fsync: false });
    expect(await adapter.swapEntry('claims', 'k', undefined, bytes('v1'))).toBe(true);
    await adapter.deleteEntries('claims', ['k']);
    expect(await adapter.getEntry('claims', 'k')).toBeUndefined();
    expect(await adapter.listEntries('claims')).toEqual([]);
    expect(await adapter.swapEntry('claims', 'k', bytes('v1'), bytes('stale'))).toBe(false);
    expect(await adapter.swapEntry('claims', 'k', undefined, bytes('v2'))).toBe(true);
    expect(text(await adapter.getEntry('claims', 'k'))).toBe('v2');
    // A plain entry is the value before its first swap, and listed once, as the swapped one.
    await adapter.putEntry('claims', 'p', bytes('plain'));
    expect(await adapter.swapEntry('claims', 'p', bytes('plain'), bytes('swapped'))).toBe(true);
    expect((await adapter.listEntries('claims')).map(({ id, value }) => [id, text(value)])).toEqual([
      ['k', 'v2'],
      ['p', 'swapped'],
    ]);
  });
});

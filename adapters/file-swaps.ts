/**
 * The entries `swapEntry` writes on the file store. Each is a directory of generations, the
 * newest being the value:
 *
 *   <root>/swapped/<namespace>/<id>/<generation, 12 digits>   a flag byte, then the value
 *
 * A swap reads the newest generation, compares, and links its value in as the next one:
 * link(2) fails when the name exists, so of the processes sharing the directory one wins each
 * generation, and no lock exists that a crashed process could leave held.
 *
 * Old generations are pruned: all but the newest two, once linked (ctime) over PRUNE_AGE_MS
 * ago. A pruned name is free again, and a swapper that read an older generation could link it
 * late. It cannot within MAX_SWAP_MS of its read: the name it links was created after that
 * read, so it cannot be PRUNE_AGE_MS old yet. A swap that took longer (a paused process) looks
 * once more after linking: if a newer generation exists, it takes its own back and answers
 * false. That answer may be wrong the other way, for a slow swap another swapper already built
 * on; a caller then sees a value of its own that it was told was not written (the contract
 * allows that). A deleted entry gets a generation flagged deleted, so numbering never starts
 * again, and an old expected value can never match a new entry.
 */
import { join } from 'node:path';
import type { CallOptions } from './contract.js';
import type { FileSystem } from './file.js';

/** What the swaps need of the file store: its files, and how it writes them durably. */
export interface SwapDisk {
  readonly fs: FileSystem;
  readonly root: string;
  writeTemp(bytes: Uint8Array): Promise<string>;
  ensureDirectory(directory: string): Promise<void>;
  syncDirectory(directory: string): Promise<void>;
}

/** A swap that took longer than this, from its read to its link, checks that it is not stale. */
const MAX_SWAP_MS = 5_000;
/** A generation is pruned only once linked longer ago than this (far over MAX_SWAP_MS). */
const PRUNE_AGE_MS = 60_000;
const PRESENT = 1;
const DELETED = 0;
const GENERATION = /^\d{12}$/;

const nameOf = (generation: number) => String(generation).padStart(12, '0');

function encode(value: Uint8Array | undefined): Uint8Array {
  const bytes = new Uint8Array(1 + (value?.byteLength ?? 0));
  bytes[0] = value === undefined ? DELETED : PRESENT;
  if (value) bytes.set(value, 1);
  return bytes;
}

function decode(bytes: Uint8Array): Uint8Array | undefined {
  return bytes[0] === PRESENT ? bytes.slice(1) : undefined;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** The time bounds of swaps (tests shorten them). */
export interface SwapBounds {
  readonly maxSwapMs: number;
  readonly pruneAgeMs: number;
}

export class SwappedEntries {
  constructor(
    private readonly disk: SwapDisk,
    private readonly bounds: SwapBounds = { maxSwapMs: MAX_SWAP_MS, pruneAgeMs: PRUNE_AGE_MS },
  ) {}

  /** The newest generation and its value (undefined: deleted), or undefined when never swapped. */
  async newest(
    namespace: string,
    id: string,
    options?: CallOptions,
  ): Promise<{ generation: number; value: Uint8Array | undefined } | undefined> {
    const directory = this.directoryOf(namespace, id);
    const names = (await this.generations(directory)).reverse();
    for (const name of names) {
      // A generation pruned between the listing and this read: the next older one is newer
      // than what was pruned, so the newest is among those still listed.
      const bytes = await readIfExists(this.disk.fs, join(directory, name), options);
      if (bytes) return { generation: Number(name), value: decode(bytes) };
    }
    return undefined;
  }

  /**
   * Replaces the value if it is `expected` (`plain`: the entry's value before its first swap,
   * as putEntry or createEntry wrote it); true when this call did.
   */
  async swap(
    namespace: string,
    id: string,
    expected: Uint8Array | undefined,
    value: Uint8Array,
    plain: () => Promise<Uint8Array | undefined>,
    options?: CallOptions,
  ): Promise<boolean> {
    const directory = this.directoryOf(namespace, id);
    await this.disk.ensureDirectory(directory);
    const readMs = performance.now();
    const newest = await this.newest(namespace, id, options);
    const current = newest ? newest.value : await plain();
    if (!sameBytes(current, expected)) return false;
    options?.signal?.throwIfAborted();
    return this.link(directory, (newest?.generation ?? 0) + 1, encode(value), readMs);
  }

  /** Deletes a swapped entry: a generation flagged deleted, so numbering goes on. */
  async delete(namespace: string, id: string): Promise<void> {
    const directory = this.directoryOf(namespace, id);
    for (;;) {
      const readMs = performance.now();
      const newest = await this.newest(namespace, id);
      if (newest === undefined || newest.value === undefined) return;
      if (await this.link(directory, newest.generation + 1, encode(undefined), readMs)) return;
    }
  }

  /** Ids swapped at least once (deleted ones included), which plain files no longer speak for. */
  async swappedIds(namespace: string): Promise<Set<string>> {
    const ids = await readdirIfExists(this.disk.fs, join(this.disk.root, 'swapped', namespace));
    const swapped = new Set<string>();
    for (const id of ids) {
      if ((await this.generations(join(this.disk.root, 'swapped', namespace, id))).length > 0)
        swapped.add(id);
    }
    return swapped;
  }

  private directoryOf(namespace: string, id: string): string {
    return join(this.disk.root, 'swapped', namespace, id);
  }

  private async generations(directory: string): Promise<string[]> {
    return (await readdirIfExists(this.disk.fs, directory)).filter((name) => GENERATION.test(name)).sort();
  }

  /**
   * Links `bytes` in as `generation`, the one after what was read at `readMs`; false when it
   * exists, or when the swap took so long that the name may have been pruned and refilled
   * (a newer generation exists).
   */
  private async link(
    directory: string,
    generation: number,
    bytes: Uint8Array,
    readMs: number,
  ): Promise<boolean> {
    const { fs } = this.disk;
    const target = join(directory, nameOf(generation));
    const tmp = await this.disk.writeTemp(bytes);
    try {
      await fs.link(tmp, target);
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false;
      throw error;
    } finally {
      await fs.unlink(tmp).catch(() => undefined);
    }
    const names = await this.generations(directory);
    if (
      performance.now() - readMs > this.bounds.maxSwapMs &&
      names.some((name) => Number(name) > generation)
    ) {
      // Possibly linked into a name pruned since this swapper read.
      await unlinkIfExists(fs, target);
      return false;
    }
    await this.disk.syncDirectory(directory);
    await this.prune(directory, names, generation);
    return true;
  }

  /** Removes the generations below `newest - 1` linked over `pruneAgeMs` ago. */
  private async prune(directory: string, names: readonly string[], newest: number): Promise<void> {
    for (const name of names) {
      if (Number(name) >= newest - 1) continue;
      const path = join(directory, name);
      const info = await this.disk.fs.stat(path).catch(() => undefined);
      // ctime: when the name was linked (link(2) changes it), not when the bytes were written.
      if (info && Date.now() - info.ctimeMs > this.bounds.pruneAgeMs)
        await unlinkIfExists(this.disk.fs, path);
    }
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export async function readIfExists(
  fs: FileSystem,
  path: string,
  options?: CallOptions,
): Promise<Uint8Array | undefined> {
  try {
    const bytes = await fs.readFile(path, options?.signal ? { signal: options.signal } : undefined);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

export async function readdirIfExists(fs: FileSystem, path: string): Promise<string[]> {
  try {
    return await fs.readdir(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return [];
    throw error;
  }
}

export async function unlinkIfExists(fs: FileSystem, path: string): Promise<void> {
  try {
    await fs.unlink(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
}

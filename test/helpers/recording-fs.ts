/**
 * A file system for the file adapter (adapters/file.ts, `fileSystem`) that records every
 * write, sync, rename and link in order, and can crash the "process" at a chosen one: that
 * call and every later one fail, as if the process had died there; a crash in a write first
 * writes half the bytes, as a torn write would. What is on disk afterwards is what a real crash
 * at that instant leaves, so a fresh adapter over the directory shows what survived.
 */
import type { FileHandle } from 'node:fs/promises';
import * as nodeFs from 'node:fs/promises';
import type { FileSystem } from '../../adapters/file.js';

export type FsOp =
  | { readonly op: 'write'; readonly path: string }
  | { readonly op: 'datasync' | 'sync'; readonly path: string }
  | { readonly op: 'rename' | 'link'; readonly from: string; readonly to: string };

export class CrashError extends Error {
  constructor(readonly at: FsOp) {
    super(`simulated crash at ${JSON.stringify(at)}`);
  }
}

export class RecordingFileSystem implements FileSystem {
  readonly ops: FsOp[] = [];
  private crashAt: ((op: FsOp, done: readonly FsOp[]) => boolean) | undefined;
  private crashedAt: FsOp | undefined;

  /** The first op (from now on) that matches, given the ops done so far, crashes the process. */
  crashWhen(matches: (op: FsOp, done: readonly FsOp[]) => boolean): void {
    this.crashAt = matches;
  }

  get crashed(): boolean {
    return this.crashedAt !== undefined;
  }

  /** Throws if the process is dead, or dies at this op; records it otherwise. */
  private step(op: FsOp): void {
    if (this.crashedAt) throw new CrashError(this.crashedAt);
    if (this.crashAt?.(op, this.ops)) {
      this.crashedAt = op;
      throw new CrashError(op);
    }
    this.ops.push(op);
  }

  private alive(): void {
    if (this.crashedAt) throw new CrashError(this.crashedAt);
  }

  readonly link: FileSystem['link'] = async (from, to) => {
    this.step({ op: 'link', from: String(from), to: String(to) });
    return nodeFs.link(from, to);
  };
  readonly rename: FileSystem['rename'] = async (from, to) => {
    this.step({ op: 'rename', from: String(from), to: String(to) });
    return nodeFs.rename(from, to);
  };
  readonly mkdir = (async (...args: Parameters<typeof nodeFs.mkdir>) => {
    this.alive();
    return nodeFs.mkdir(...args);
  }) as FileSystem['mkdir'];
  readonly readdir = (async (...args: Parameters<typeof nodeFs.readdir>) => {
    this.alive();
    return nodeFs.readdir(...args);
  }) as FileSystem['readdir'];
  readonly readFile = (async (...args: Parameters<typeof nodeFs.readFile>) => {
    this.alive();
    return nodeFs.readFile(...args);
  }) as FileSystem['readFile'];
  readonly rmdir: FileSystem['rmdir'] = async (...args) => {
    this.alive();
    return nodeFs.rmdir(...args);
  };
  readonly stat = (async (...args: Parameters<typeof nodeFs.stat>) => {
    this.alive();
    return nodeFs.stat(...args);
  }) as FileSystem['stat'];
  readonly unlink: FileSystem['unlink'] = async (path) => {
    this.alive();
    return nodeFs.unlink(path);
  };
  readonly open = (async (path: string, flags?: number | string, mode?: number) => {
    this.alive();
    const handle = await nodeFs.open(path, flags, mode);
    return this.wrap(handle, String(path));
  }) as FileSystem['open'];

  private wrap(handle: FileHandle, path: string): FileHandle {
    const recorder = this;
    return new Proxy(handle, {
      get(target, property) {
        if (property === 'writeFile') {
          return async (data: Uint8Array) => {
            try {
              recorder.step({ op: 'write', path });
            } catch (error) {
              // A torn write: half the bytes reach the file before the process dies.
              if (error instanceof CrashError && error.at.op === 'write' && error.at.path === path) {
                await target.writeFile(data.subarray(0, Math.floor(data.byteLength / 2)));
              }
              throw error;
            }
            return target.writeFile(data);
          };
        }
        if (property === 'datasync' || property === 'sync') {
          return async () => {
            recorder.step({ op: property, path });
            return target[property]();
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }
}

/**
 * A file system for the file adapter (adapters/file.ts, `fileSystem`) on a disk that fills
 * up: writes may use `freeBytes` in all; a write past them puts what still fits and fails
 * with ENOSPC, as a real disk does; `free()` gives space back (an operator deleting files).
 * Every other call is node:fs/promises'. Deleting a file does not give its bytes back: the
 * test says when space is freed.
 */
import type { FileHandle } from 'node:fs/promises';
import * as nodeFs from 'node:fs/promises';
import type { FileSystem } from '../../adapters/file.js';

function noSpace(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'write',
    path,
  });
}

export class FullDisk {
  readonly fileSystem: FileSystem;

  constructor(public freeBytes: number) {
    const open = (async (path: string, flags?: number | string, mode?: number) =>
      this.wrap(await nodeFs.open(path, flags, mode), String(path))) as FileSystem['open'];
    this.fileSystem = { ...nodeFs, open };
  }

  /** Gives `bytes` back (or makes room for everything). */
  free(bytes = Number.POSITIVE_INFINITY): void {
    this.freeBytes += bytes;
  }

  private wrap(handle: FileHandle, path: string): FileHandle {
    const disk = this;
    return new Proxy(handle, {
      get(target, property) {
        if (property === 'writeFile') {
          return async (data: Uint8Array) => {
            const fits = Math.max(0, Math.min(data.byteLength, disk.freeBytes));
            disk.freeBytes -= fits;
            if (fits < data.byteLength) {
              await target.writeFile(data.subarray(0, fits));
              throw noSpace(path);
            }
            return target.writeFile(data);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }
}

/**
 * Storage URLs, as given to `aft serve --storage` or AFT_STORAGE, turned into adapters.
 *
 *   file:./.aft-data            a directory, relative to the working directory
 *   file:///var/lib/aft         an absolute directory
 *   file:./data?fsync=false     without fsync (survives a process crash, not a power loss)
 *   memory:                     in-process, for tests; nothing survives the process
 */
import { fileURLToPath } from 'node:url';
import type { StorageAdapter } from './contract.js';
import { FileAdapter } from './file.js';
import { MemoryAdapter } from './memory.js';

export class StorageUrlError extends TypeError {
  override readonly name: string = 'StorageUrlError';
  readonly code = 'BAD_STORAGE_URL';
}

export function describeStorageUrl(url: string): string {
  // Credentials never reach logs.
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export function createAdapterFromUrl(url: string): StorageAdapter {
  const schemeEnd = url.indexOf(':');
  const scheme = schemeEnd > 0 ? url.slice(0, schemeEnd).toLowerCase() : '';
  const rest = url.slice(schemeEnd + 1);
  const [location = '', query = ''] = splitOnce(rest, '?');
  const params = new URLSearchParams(query);
  switch (scheme) {
    case 'memory':
      return new MemoryAdapter();
    case 'file': {
      const directory = location.startsWith('//')
        ? fileURLToPath(`file:${location}`)
        : decodeURIComponent(location);
      if (!directory) throw new StorageUrlError(`storage URL ${describeStorageUrl(url)} names no directory`);
      return new FileAdapter({ directory, fsync: booleanParam(params, 'fsync', true) });
    }
    default:
      throw new StorageUrlError(
        `unsupported storage URL ${JSON.stringify(describeStorageUrl(url))}: expected file:<dir> or memory:`,
      );
  }
}

function splitOnce(value: string, separator: string): [string, string] {
  const index = value.indexOf(separator);
  return index < 0 ? [value, ''] : [value.slice(0, index), value.slice(index + 1)];
}

function booleanParam(params: URLSearchParams, name: string, fallback: boolean): boolean {
  const value = params.get(name);
  if (value === null) return fallback;
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new StorageUrlError(`storage URL parameter ${name}=${value} is not a boolean`);
}

/**
 * Storage URLs, as given to `aft serve --storage` or AFT_STORAGE, turned into adapters.
 *
 *   file:./.aft-data            a directory, relative to the working directory
 *   file:///var/lib/aft         an absolute directory
 *   file:./data?fsync=false     without fsync (survives a process crash, not a power loss)
 *   memory:                     in-process, for tests; nothing survives the process
 *   redis://[user:password@]host:port[/db][?prefix=aft:]        a standalone Redis (rediss:// for TLS)
 *   redis+cluster://[user:password@]host:port,host:port[?prefix=aft:]   a Redis Cluster
 */
import { fileURLToPath } from 'node:url';
import type { StorageAdapter } from './contract.js';
import { FileAdapter } from './file.js';
import { MemoryAdapter } from './memory.js';
import { RedisAdapter } from './redis.js';

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
    case 'redis':
    case 'rediss': {
      const server = new URL(url);
      const prefix = server.searchParams.get('prefix') ?? undefined;
      server.search = '';
      return new RedisAdapter({ url: server.toString(), ...(prefix !== undefined && { prefix }) });
    }
    case 'redis+cluster': {
      const [userInfo, hosts] = location.startsWith('//') ? splitUserInfo(location.slice(2)) : ['', ''];
      const clusterNodes = hosts
        .replace(/\/$/, '')
        .split(',')
        .filter(Boolean)
        .map((hostPort) => {
          const match = /^([^:]+):(\d+)$/.exec(hostPort);
          if (!match)
            throw new StorageUrlError(`redis+cluster node ${JSON.stringify(hostPort)} is not host:port`);
          return { host: match[1]!, port: Number(match[2]) };
        });
      if (clusterNodes.length === 0) {
        throw new StorageUrlError(`storage URL ${describeStorageUrl(url)} names no cluster node`);
      }
      const [username = '', password = ''] = splitOnce(userInfo, ':').map(decodeURIComponent);
      const prefix = params.get('prefix') ?? undefined;
      return new RedisAdapter({
        clusterNodes,
        ...(prefix !== undefined && { prefix }),
        redisOptions: { ...(username && { username }), ...(password && { password }) },
      });
    }
    default:
      throw new StorageUrlError(
        `unsupported storage URL ${JSON.stringify(describeStorageUrl(url))}: expected file:<dir>, memory:, ` +
          's3://, dynamodb://, redis:// or redis+cluster://',
      );
  }
}

function splitOnce(value: string, separator: string): [string, string] {
  const index = value.indexOf(separator);
  return index < 0 ? [value, ''] : [value.slice(0, index), value.slice(index + 1)];
}

/** Splits `user:password@rest` into its user info and the rest ('' when there is none). */
function splitUserInfo(authority: string): [string, string] {
  const at = authority.lastIndexOf('@');
  return at < 0 ? ['', authority] : [authority.slice(0, at), authority.slice(at + 1)];
}

function booleanParam(params: URLSearchParams, name: string, fallback: boolean): boolean {
  const value = params.get(name);
  if (value === null) return fallback;
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new StorageUrlError(`storage URL parameter ${name}=${value} is not a boolean`);
}

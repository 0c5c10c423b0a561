/**
 * Storage URLs, as given to `aft serve --storage` or AFT_STORAGE, turned into adapters.
 *
 *   file:./.aft-data            a directory, relative to the working directory
 *   file:///var/lib/aft         an absolute directory
 *   file:./data?fsync=false     without fsync (survives a process crash, not a power loss)
 *   memory:                     in-process, for tests; nothing survives the process
 *   s3://[key:secret@]bucket[/prefix][?region=..&endpoint=..&forcePathStyle=true]
 *   dynamodb://[key:secret@]table-prefix[?region=..&endpoint=..]   tables <prefix>versions, <prefix>commits
 *   redis://[user:password@]host:port[/db][?prefix=aft:]        a standalone Redis (rediss:// for TLS)
 *   redis+cluster://[user:password@]host:port,host:port[?prefix=aft:]   a Redis Cluster
 *   anna://host:6450[,host:6451][?prefix=aft/&response-host=10.0.0.7&address-port=6760&key-port=6460&timeout-ms=2000]
 *                                                                   Anna (its routing threads)
 */

import { fileURLToPath } from 'node:url';
import { AnnaAdapter } from './anna.js';
import type { StorageAdapter } from './contract.js';
import { DynamoDbAdapter } from './dynamodb.js';
import { loadEnginePackages } from './engine-packages.js';
import { FileAdapter } from './file.js';
import { MemoryAdapter } from './memory.js';
import { RedisAdapter } from './redis.js';
import { S3Adapter } from './s3.js';

export class StorageUrlError extends TypeError {
  override readonly name: string = 'StorageUrlError';
  readonly code = 'BAD_STORAGE_URL';
}

export function describeStorageUrl(url: string): string {
  // Credentials never reach logs.
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * createAdapterFromUrl, once the engine's npm packages are loaded: a package that is missing
 * is an EnginePackageMissingError now, with the npm command that fixes it, not a failure of
 * every storage call later (./engine-packages.ts). What the `aft` commands and startShim use.
 */
export async function openAdapterFromUrl(url: string): Promise<StorageAdapter> {
  await loadEnginePackages(url);
  return createAdapterFromUrl(url);
}

export function createAdapterFromUrl(url: string): StorageAdapter {
  const schemeEnd = url.indexOf(':');
  const scheme = schemeEnd > 0 ? url.slice(0, schemeEnd).toLowerCase() : '';
  const rest = url.slice(schemeEnd + 1);
  const [location = '', query = ''] = splitOnce(rest, '?');
  const params = new URLSearchParams(query);
  switch (scheme) {
    case 'memory':
      // The store lives in this process: its clock is the node's, so commits need no intent.
      return new MemoryAdapter({ clock: Date.now });
    case 'file': {
      const directory = location.startsWith('//')
        ? fileURLToPath(`file:${location}`)
        : decodeURIComponent(location);
      if (!directory) throw new StorageUrlError(`storage URL ${describeStorageUrl(url)} names no directory`);
      return new FileAdapter({ directory, fsync: booleanParam(params, 'fsync', true) });
    }
    case 's3': {
      const parsed = new URL(url);
      if (!parsed.hostname)
        throw new StorageUrlError(`storage URL ${describeStorageUrl(url)} names no bucket`);
      const endpoint = params.get('endpoint') ?? undefined;
      const region = params.get('region') ?? undefined;
      const credentials = credentialsOf(parsed);
      return new S3Adapter({
        bucket: parsed.hostname,
        prefix: decodeURIComponent(parsed.pathname.replace(/^\//, '')),
        clientConfig: {
          ...(region && { region }),
          ...(endpoint && { endpoint }),
          ...(credentials && { credentials }),
          // Custom endpoints (MinIO, s3rver, ...) rarely serve bucket subdomains.
          forcePathStyle: booleanParam(params, 'forcePathStyle', endpoint !== undefined),
        },
      });
    }
    case 'dynamodb': {
      // Table names are case-sensitive, so the prefix is taken as written, not as a host name.
      const [userInfo, tablePrefix] = location.startsWith('//') ? splitUserInfo(location.slice(2)) : ['', ''];
      const [accessKeyId = '', secretAccessKey = ''] = splitOnce(userInfo, ':').map(decodeURIComponent);
      const endpoint = params.get('endpoint') ?? undefined;
      const region = params.get('region') ?? undefined;
      return new DynamoDbAdapter({
        tablePrefix: decodeURIComponent(tablePrefix.replace(/\/$/, '')),
        transactWrites: booleanParam(params, 'transactWrites', true),
        directCommits: booleanParam(params, 'directCommits', true),
        valuesInRecord: booleanParam(params, 'valuesInRecord', true),
        clientConfig: {
          ...(region && { region }),
          ...(endpoint && { endpoint }),
          ...(accessKeyId && { credentials: { accessKeyId, secretAccessKey } }),
        },
      });
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
    case 'anna': {
      const routing = (location.startsWith('//') ? location.slice(2) : location)
        .replace(/\/$/, '')
        .split(',')
        .filter(Boolean);
      for (const hostPort of routing) {
        if (!/^[^:/]+:\d+$/.test(hostPort)) {
          throw new StorageUrlError(`anna routing node ${JSON.stringify(hostPort)} is not host:port`);
        }
      }
      if (routing.length === 0)
        throw new StorageUrlError(`storage URL ${describeStorageUrl(url)} names no routing node`);
      const port = (name: string) => {
        const raw = params.get(name);
        if (raw === null) return undefined;
        if (!/^\d+$/.test(raw) || Number(raw) > 65535)
          throw new StorageUrlError(`anna ${name}=${raw} is not a port`);
        return Number(raw);
      };
      const timeout = params.get('timeout-ms');
      if (timeout !== null && !/^\d+$/.test(timeout))
        throw new StorageUrlError(`anna timeout-ms=${timeout} is not a number`);
      const addressPort = port('address-port');
      const keyPort = port('key-port');
      const responseHost = params.get('response-host') ?? undefined;
      const prefix = params.get('prefix') ?? undefined;
      return new AnnaAdapter({
        routing,
        ...(prefix !== undefined && { prefix }),
        ...(responseHost !== undefined && { responseHost }),
        ...(addressPort !== undefined && { addressPort }),
        ...(keyPort !== undefined && { keyPort }),
        ...(timeout !== null && { timeoutMs: Number(timeout) }),
      });
    }
    default:
      throw new StorageUrlError(
        `unsupported storage URL ${JSON.stringify(describeStorageUrl(url))}: expected file:<dir>, memory:, ` +
          's3://, dynamodb://, redis://, redis+cluster:// or anna://',
      );
  }
}

function splitOnce(value: string, separator: string): [string, string] {
  const index = value.indexOf(separator);
  return index < 0 ? [value, ''] : [value.slice(0, index), value.slice(index + 1)];
}

/** Access key and secret from a URL's user info; none means the standard AWS chain. */
function credentialsOf(parsed: URL): { accessKeyId: string; secretAccessKey: string } | undefined {
  if (!parsed.username) return undefined;
  return {
    accessKeyId: decodeURIComponent(parsed.username),
    secretAccessKey: decodeURIComponent(parsed.password),
  };
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

/**
 * The npm packages each storage engine needs beyond aft itself. They are optional peer
 * dependencies: a function that only uses the client installs none of them, and a shim
 * installs the ones of its engine (README, "Engines and their packages"). Adapters load
 * them on first use; `loadEnginePackages` loads them up front, so a shim whose engine
 * package is missing stops at start with the npm command that fixes it, instead of
 * answering 503 for ever.
 */

export const ENGINE_PACKAGES = {
  file: [],
  memory: [],
  s3: ['@aws-sdk/client-s3'],
  dynamodb: ['@aws-sdk/client-dynamodb'],
  redis: ['ioredis'],
  rediss: ['ioredis'],
  'redis+cluster': ['ioredis'],
  anna: ['zeromq', 'protobufjs'],
} as const satisfies Record<string, readonly string[]>;

export type EngineScheme = keyof typeof ENGINE_PACKAGES;

/** A storage URL's engine needs an npm package that is not installed. Not retryable. */
export class EnginePackageMissingError extends TypeError {
  override readonly name = 'EnginePackageMissingError';
  readonly code = 'ENGINE_PACKAGE_MISSING';
  readonly retryable = false;
  constructor(
    readonly scheme: string,
    readonly packageName: string,
    options?: { cause?: unknown },
  ) {
    const all = ENGINE_PACKAGES[scheme as EngineScheme] ?? [packageName];
    super(
      `the ${scheme}:// storage engine needs the npm package ${packageName}, which is not installed: ` +
        `npm install ${all.join(' ')}`,
      options,
    );
  }
}

function schemeOf(url: string): string {
  const end = url.indexOf(':');
  return end > 0 ? url.slice(0, end).toLowerCase() : '';
}

/** Whether `error` says that `packageName` itself (not something it imports) is missing. */
export function isMissingPackage(error: unknown, packageName: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return typeof message === 'string' && message.includes(`'${packageName}'`);
}

/**
 * Turns the failed import of an engine package into EnginePackageMissingError (other failures
 * pass through): `import('ioredis').catch(missingEnginePackage('ioredis', 'redis'))`.
 */
export function missingEnginePackage(packageName: string, scheme: string): (error: unknown) => never {
  return (error) => {
    if (isMissingPackage(error, packageName)) {
      throw new EnginePackageMissingError(scheme, packageName, { cause: error });
    }
    throw error;
  };
}

const importers: Record<string, () => Promise<unknown>> = {
  '@aws-sdk/client-s3': () => import('@aws-sdk/client-s3'),
  '@aws-sdk/client-dynamodb': () => import('@aws-sdk/client-dynamodb'),
  ioredis: () => import('ioredis'),
  zeromq: () => import('zeromq'),
  protobufjs: () => import('protobufjs'),
};

/**
 * Loads the packages the URL's engine needs (none for file: and memory:), failing with
 * EnginePackageMissingError when one is not installed. Unknown schemes are left to
 * createAdapterFromUrl to reject.
 */
export async function loadEnginePackages(url: string): Promise<void> {
  const scheme = schemeOf(url);
  for (const packageName of ENGINE_PACKAGES[scheme as EngineScheme] ?? []) {
    await importers[packageName]!().catch(missingEnginePackage(packageName, scheme));
  }
}

/**
 * The wrapper's settings: an explicit option wins over its AFT_* environment variable, which
 * wins over the default. LAMBDA_SETTINGS is the one table of them; the README's "Lambda
 * layer settings" table is checked against it (test/readme.test.ts).
 */
import { BadRequestError } from '../wire/errors.js';

export interface LambdaSettings {
  /** The shim's URL, e.g. http://aft.internal:7070. Required. */
  readonly url: string;
  /** A bearer token, when the shim has auth on. */
  readonly token: string | undefined;
  /** A Secrets Manager secret holding the token, read once per execution environment (when no token is given). */
  readonly tokenSecretArn: string | undefined;
  /** The transaction is aborted this long before Lambda would stop the function. */
  readonly timeoutMarginMs: number;
  /** Record each result under an idempotency key, so a retried request does not run twice. */
  readonly idempotency: boolean;
  /** Runs of the handler, the first included, when the transaction is lost or storage fails. */
  readonly attempts: number;
  /** Time limit of each REST request. */
  readonly requestTimeoutMs: number;
}

interface LambdaSetting {
  readonly option: keyof LambdaSettings;
  readonly env: string;
  readonly default: string;
  readonly description: string;
}

export const LAMBDA_SETTINGS: readonly LambdaSetting[] = [
  { option: 'url', env: 'AFT_URL', default: 'none (required)', description: "the shim's URL" },
  {
    option: 'token',
    env: 'AFT_TOKEN',
    default: 'none',
    description: 'bearer token, when the shim has auth on',
  },
  {
    option: 'tokenSecretArn',
    env: 'AFT_TOKEN_SECRET_ARN',
    default: 'none',
    description: 'a Secrets Manager secret holding the token, read once per execution environment',
  },
  {
    option: 'timeoutMarginMs',
    env: 'AFT_TIMEOUT_MARGIN_MS',
    default: '1000',
    description: 'abort the transaction this long before Lambda stops the function',
  },
  {
    option: 'idempotency',
    env: 'AFT_IDEMPOTENCY',
    default: 'on',
    description: 'record results by idempotency key (the request id unless `idempotencyKey` picks one)',
  },
  {
    option: 'attempts',
    env: 'AFT_ATTEMPTS',
    default: '3',
    description: 'runs of the handler when the transaction is lost or storage fails (retryable errors)',
  },
  {
    option: 'requestTimeoutMs',
    env: 'AFT_REQUEST_TIMEOUT_MS',
    default: '10000',
    description: 'time limit of each request to the shim',
  },
];

/** The variable of each setting, from the table: the one place a name is written. */
export const LAMBDA_ENV = Object.fromEntries(
  LAMBDA_SETTINGS.map((entry) => [entry.option, entry.env]),
) as Readonly<Record<keyof LambdaSettings, string>>;

/** A setting that is missing or malformed. */
export class LambdaConfigError extends BadRequestError {
  override readonly name: string = 'LambdaConfigError';
}

export function resolveLambdaSettings(
  options: Partial<LambdaSettings>,
  env: NodeJS.ProcessEnv = process.env,
): LambdaSettings {
  const raw = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const url = options.url ?? raw(LAMBDA_ENV.url);
  if (url === undefined) {
    throw new LambdaConfigError('the shim URL is missing: pass { url } to withTransaction or set AFT_URL');
  }
  try {
    new URL(url);
  } catch {
    throw new LambdaConfigError(`the shim URL ${JSON.stringify(url)} is not a URL`);
  }
  return {
    url,
    token: options.token ?? raw(LAMBDA_ENV.token),
    tokenSecretArn: options.tokenSecretArn ?? raw(LAMBDA_ENV.tokenSecretArn),
    timeoutMarginMs: options.timeoutMarginMs ?? integer(LAMBDA_ENV.timeoutMarginMs, raw, 1000, 0),
    idempotency: options.idempotency ?? onOff(LAMBDA_ENV.idempotency, raw, true),
    attempts: options.attempts ?? integer(LAMBDA_ENV.attempts, raw, 3, 1),
    requestTimeoutMs: options.requestTimeoutMs ?? integer(LAMBDA_ENV.requestTimeoutMs, raw, 10_000, 1),
  };
}

function integer(
  name: string,
  raw: (name: string) => string | undefined,
  fallback: number,
  min: number,
): number {
  const value = raw(name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min) {
    throw new LambdaConfigError(
      `${name}=${JSON.stringify(value)}: expected a whole number of at least ${min}`,
    );
  }
  return Number(value);
}

function onOff(name: string, raw: (name: string) => string | undefined, fallback: boolean): boolean {
  const value = raw(name);
  if (value === undefined) return fallback;
  if (['on', 'true', '1', 'yes'].includes(value)) return true;
  if (['off', 'false', '0', 'no'].includes(value)) return false;
  throw new LambdaConfigError(`${name}=${JSON.stringify(value)}: expected on or off`);
}

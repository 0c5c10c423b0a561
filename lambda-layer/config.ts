/**
 * The wrapper's settings: an explicit option wins over its AFT_* environment variable, which
 * wins over the default. LAMBDA_SETTINGS is the one table of them; the README's "Lambda
 * layer settings" table is checked against it (test/readme.test.ts).
 */
import { BadRequestError } from '../wire/errors.js';
import { type AnySetting, envNames, parsers, resolveSettings } from '../wire/settings.js';

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

/**
 * The layer's settings, on the one settings engine (wire/settings.ts). A default is spelled
 * as its variable would be ('' for none); the README's table shows it.
 */
export const LAMBDA_SETTINGS: readonly AnySetting<LambdaSettings>[] = [
  {
    option: 'url',
    env: 'AFT_URL',
    default: '',
    description: "the shim's URL (required)",
    parse: parsers.text,
  },
  {
    option: 'token',
    env: 'AFT_TOKEN',
    default: '',
    description: 'bearer token, when the shim has auth on',
    parse: parsers.optionalText,
  },
  {
    option: 'tokenSecretArn',
    env: 'AFT_TOKEN_SECRET_ARN',
    default: '',
    description: 'a Secrets Manager secret holding the token, read once per execution environment',
    parse: parsers.optionalText,
  },
  {
    option: 'timeoutMarginMs',
    env: 'AFT_TIMEOUT_MARGIN_MS',
    default: '1000',
    description: 'abort the transaction this long before Lambda stops the function',
    parse: parsers.integer(0),
  },
  {
    option: 'idempotency',
    env: 'AFT_IDEMPOTENCY',
    default: 'on',
    description: 'record results by idempotency key (the request id unless `idempotencyKey` picks one)',
    parse: parsers.onOff,
  },
  {
    option: 'attempts',
    env: 'AFT_ATTEMPTS',
    default: '3',
    description: 'runs of the handler when the transaction is lost or storage fails (retryable errors)',
    parse: parsers.integer(1),
  },
  {
    option: 'requestTimeoutMs',
    env: 'AFT_REQUEST_TIMEOUT_MS',
    default: '10000',
    description: 'time limit of each request to the shim',
    parse: parsers.integer(1),
  },
];

/** The variable of each setting, from the table: the one place a name is written. */
export const LAMBDA_ENV = envNames<LambdaSettings>(LAMBDA_SETTINGS);

/** A setting that is missing or malformed. */
export class LambdaConfigError extends BadRequestError {
  override readonly name: string = 'LambdaConfigError';
}

export function resolveLambdaSettings(
  options: Partial<LambdaSettings>,
  env: NodeJS.ProcessEnv = process.env,
): LambdaSettings {
  const settings = resolveSettings(
    LAMBDA_SETTINGS,
    options,
    env,
    (message) => new LambdaConfigError(message),
  );
  if (settings.url === '') {
    throw new LambdaConfigError(
      `the shim URL is missing: pass { url } to withTransaction or set ${LAMBDA_ENV.url}`,
    );
  }
  try {
    new URL(settings.url);
  } catch {
    throw new LambdaConfigError(`the shim URL ${JSON.stringify(settings.url)} is not a URL`);
  }
  return settings;
}

/**
 * The one settings engine of aft, for the shim (shim/config.ts) and the Lambda layer
 * (lambda-layer/config.ts): a table of settings, each with its option, its AFT_* variable,
 * its default spelled as the variable would be, and a parser. An explicit option wins over
 * its variable, which wins over the default. The README's tables, the CLI's flags and the CDK
 * construct's variables are all read from the tables.
 */

export interface Setting<C, K extends keyof C> {
  readonly option: K;
  readonly env: string;
  /** The default, spelled as its variable would be ('' for none). */
  readonly default: string;
  readonly description: string;
  /** Parses a variable's text; throws an Error whose message says what was expected. */
  readonly parse: (raw: string) => C[K];
}

export type AnySetting<C> = { [K in keyof C]: Setting<C, K> }[keyof C];

/** Resolves every setting of `table`: `options`, else the environment, else the default. */
export function resolveSettings<C>(
  table: readonly AnySetting<C>[],
  options: Partial<C>,
  env: Readonly<Record<string, string | undefined>>,
  toError: (message: string) => Error,
): C {
  const resolved: Partial<Record<keyof C, unknown>> = {};
  for (const entry of table) {
    const explicit = options[entry.option];
    const raw = env[entry.env];
    if (explicit !== undefined) resolved[entry.option] = explicit;
    else if (raw !== undefined && raw !== '')
      resolved[entry.option] = parseSetting(entry, raw, entry.env, toError);
    else resolved[entry.option] = entry.parse(entry.default);
  }
  return resolved as C;
}

/** Parses one setting's raw text; a failure names its source (a variable or a flag). */
export function parseSetting<C>(
  entry: AnySetting<C>,
  raw: string,
  source: string,
  toError: (message: string) => Error,
): C[keyof C] {
  try {
    return entry.parse(raw);
  } catch (error) {
    throw toError(`${source}=${JSON.stringify(raw)}: ${(error as Error).message}`);
  }
}

/** Each option's variable, read from the table: the one place a name is written. */
export function envNames<C>(table: readonly AnySetting<C>[]): Readonly<Record<keyof C, string>> {
  return Object.fromEntries(table.map((entry) => [entry.option, entry.env])) as Record<keyof C, string>;
}

export const parsers = {
  integer(min: number, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
    // One message for every way a value misses (not a number, negative, out of range): the range.
    const expected =
      max === Number.MAX_SAFE_INTEGER
        ? `expected a whole number of at least ${min}`
        : `expected a whole number from ${min} to ${max}`;
    return (raw) => {
      if (!/^\d+$/.test(raw.trim())) throw new Error(expected);
      const value = Number(raw);
      if (value < min || value > max) throw new Error(expected);
      return value;
    };
  },
  text(raw: string): string {
    return raw;
  },
  /** Text, or undefined for none. */
  optionalText(raw: string): string | undefined {
    return raw === '' ? undefined : raw;
  },
  /** Comma-separated, blanks dropped. */
  list(raw: string): readonly string[] {
    return raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
  },
  onOff(raw: string): boolean {
    if (['on', 'true', '1', 'yes'].includes(raw)) return true;
    if (['off', 'false', '0', 'no'].includes(raw)) return false;
    throw new Error('expected on or off');
  },
  oneOf<T extends string>(choices: readonly T[]): (raw: string) => T {
    return (raw) => {
      if (!(choices as readonly string[]).includes(raw))
        throw new Error(`expected one of ${choices.join(', ')}`);
      return raw as T;
    };
  },
} as const;

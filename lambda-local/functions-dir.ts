/**
 * The functions `aft lambda-local --functions DIR` serves: each folder of DIR is one function,
 * named by the folder, configured by an optional `function.json`:
 *
 *   { "handler": "index.handler", "timeout": 10, "memorySize": 256, "environment": { "K": "v" } }
 *
 * with Lambda's defaults (handler index.handler, timeout 3 s, 128 MB).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BadRequestError } from '../wire/errors.js';

export interface LocalFunction {
  readonly name: string;
  readonly directory: string;
  readonly handler: string;
  readonly timeoutSeconds: number;
  readonly memorySize: number;
  readonly environment: Readonly<Record<string, string>>;
  readonly arn: string;
}

interface FunctionJson {
  handler?: unknown;
  timeout?: unknown;
  memorySize?: unknown;
  environment?: unknown;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function readFunctionsDirectory(directory: string, region: string): LocalFunction[] {
  const root = resolve(directory);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new BadRequestError(`--functions ${directory}: not a directory`);
  }
  const functions: LocalFunction[] = [];
  for (const name of readdirSync(root).sort()) {
    const folder = join(root, name);
    if (!statSync(folder).isDirectory() || name === 'node_modules' || name.startsWith('.')) continue;
    if (!NAME.test(name)) throw new BadRequestError(`${folder}: a function name is 1-64 of A-Z a-z 0-9 _ -`);
    const config = readFunctionJson(folder);
    functions.push({
      name,
      directory: folder,
      handler: stringField(config.handler, 'handler', folder) ?? 'index.handler',
      timeoutSeconds: numberField(config.timeout, 'timeout', folder, 1, 900) ?? 3,
      memorySize: numberField(config.memorySize, 'memorySize', folder, 128, 10_240) ?? 128,
      environment: environmentField(config.environment, folder),
      arn: `arn:aws:lambda:${region}:000000000000:function:${name}`,
    });
  }
  if (functions.length === 0)
    throw new BadRequestError(`--functions ${directory}: holds no function folders`);
  return functions;
}

function readFunctionJson(folder: string): FunctionJson {
  const path = join(folder, 'function.json');
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as FunctionJson;
  } catch (error) {
    throw new BadRequestError(`${path}: ${(error as Error).message}`);
  }
}

function stringField(value: unknown, field: string, folder: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[^.]+(\/[^.]+)*\.[A-Za-z_$][\w$]*$/.test(value)) {
    throw new BadRequestError(`${folder}/function.json: ${field} must look like "index.handler"`);
  }
  return value;
}

function numberField(
  value: unknown,
  field: string,
  folder: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new BadRequestError(
      `${folder}/function.json: ${field} must be a whole number from ${min} to ${max}`,
    );
  }
  return value;
}

function environmentField(value: unknown, folder: string): Record<string, string> {
  if (value === undefined) return {};
  if (
    typeof value !== 'object' ||
    value === null ||
    Object.values(value).some((v) => typeof v !== 'string')
  ) {
    throw new BadRequestError(`${folder}/function.json: environment must map names to strings`);
  }
  return value as Record<string, string>;
}

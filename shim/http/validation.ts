/**
 * Request validation against the OpenAPI document's schemas, plus the checks JSON Schema
 * cannot say cheaply (strict base64 of any length).
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { CommitRecord } from '../../adapters/contract.js';
import { BadRequestError } from '../errors.js';
import { openApiDocument } from './openapi.js';

const SCHEMAS_ID = 'https://aft.invalid/schemas';

const ajv = new Ajv2020({ allErrors: false, strict: true });
// OpenAPI refs point at #/components/schemas/X; in a plain JSON Schema they live in $defs.
ajv.addSchema(
  JSON.parse(
    JSON.stringify({ $id: SCHEMAS_ID, $defs: openApiDocument.components.schemas }).replaceAll(
      '#/components/schemas/',
      '#/$defs/',
    ),
  ),
);

function validator<T>(name: keyof typeof openApiDocument.components.schemas): (body: unknown) => T {
  let compiled: ValidateFunction | undefined;
  return (body) => {
    compiled ??= ajv.compile({ $ref: `${SCHEMAS_ID}#/$defs/${name}` });
    if (!compiled(body)) throw new BadRequestError(`invalid ${name}: ${describe(compiled.errors)}`);
    return body as T;
  };
}

function describe(errors: ErrorObject[] | null | undefined): string {
  const first = errors?.[0];
  if (!first) return 'does not match the schema';
  return `${first.instancePath || 'body'} ${first.message ?? 'is invalid'}`;
}

export interface BeginBody {
  readonly timeoutMs?: number;
  readonly idempotencyKey?: string;
}
export interface CommitBody {
  readonly result?: string | null;
}
export interface ReadBody {
  readonly keys: readonly string[];
}
export interface WriteBody {
  readonly items: readonly { readonly key: string; readonly value: string | null }[];
}

export interface PushCommitsBody {
  readonly records: readonly CommitRecord[];
}

export const validateBegin = validator<BeginBody>('BeginRequest');
export const validateCommit = validator<CommitBody>('CommitRequest');
export const validatePushCommits = validator<PushCommitsBody>('PushCommitsRequest');
export const validateRead = validator<ReadBody>('ReadRequest');
export const validateWrite = validator<WriteBody>('WriteRequest');

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes standard, padded base64; anything else is a BAD_REQUEST (Buffer.from alone accepts junk). */
export function decodeBase64(value: string, where: string): Uint8Array {
  if (value.length % 4 !== 0 || !BASE64.test(value)) {
    throw new BadRequestError(`${where} is not valid base64 (standard alphabet, padded)`);
  }
  const bytes = Buffer.from(value, 'base64');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

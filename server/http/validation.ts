/**
 * Request validation against the OpenAPI document's schemas, plus the checks JSON Schema
 * cannot say cheaply (strict base64 of any length).
 */

import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { CommitRecord } from '../../adapters/contract.js';
import { BadRequestError } from '../../shim/errors.js';
import {
  type BeginRequest,
  type CommitRequest,
  decodeBase64 as decodeWireBase64,
  type ReadRequest,
  type WriteRequest,
} from '../../wire/api.js';
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

export interface PushCommitsBody {
  readonly records: readonly CommitRecord[];
}

export const validateBegin = validator<BeginRequest>('BeginRequest');
export const validateCommit = validator<CommitRequest>('CommitRequest');
export const validatePushCommits = validator<PushCommitsBody>('PushCommitsRequest');
export const validateRead = validator<ReadRequest>('ReadRequest');
export const validateWrite = validator<WriteRequest>('WriteRequest');

/** Decodes standard, padded base64; anything else is a BAD_REQUEST (Buffer.from alone accepts junk). */
export function decodeBase64(value: string, where: string): Uint8Array {
  const bytes = decodeWireBase64(value);
  if (!bytes) throw new BadRequestError(`${where} is not valid base64 (standard alphabet, padded)`);
  return bytes;
}

/**
 * The one error mapping of the REST API (codes, statuses and bodies: wire/errors.ts), for the
 * express app and the direct front alike: what any thrown error becomes, what is logged of it,
 * and the status, headers and body that answer it.
 */
import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Response } from 'express';
import { AftError, ErrorCode, errorBodyOf, HTTP_STATUS_OF_CODE } from '../../shim/errors.js';
import type { NodeLogger } from '../../shim/telemetry.js';

export function sendError(res: Response, error: AftError): void {
  writeError(res, error);
}

/** Answers `error` on a plain Node response (the express one is one too). */
export function writeError(res: ServerResponse, error: AftError): void {
  const body = JSON.stringify(errorBodyOf(error));
  res.writeHead(HTTP_STATUS_OF_CODE[error.code], {
    ...(error.code === ErrorCode.UNAUTHORIZED && { 'WWW-Authenticate': 'Bearer' }),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Errors thrown by body-parser and the router carry an HTTP `status` and a `type`. */
interface HttpLayerError {
  status?: number;
  type?: string;
  message?: string;
}

export function toAftError(error: unknown): AftError {
  if (error instanceof AftError) return error;
  const httpError = error as HttpLayerError | undefined;
  if (httpError?.status === 413 || httpError?.type === 'entity.too.large') {
    return new AftError(ErrorCode.TOO_LARGE, 'request body is over the limit');
  }
  if (httpError?.type === 'entity.parse.failed') {
    return new AftError(ErrorCode.BAD_REQUEST, `malformed JSON: ${httpError.message ?? ''}`.trim());
  }
  if (
    error instanceof URIError ||
    (httpError?.status !== undefined && httpError.status >= 400 && httpError.status < 500)
  ) {
    return new AftError(ErrorCode.BAD_REQUEST, httpError?.message ?? 'bad request');
  }
  return new AftError(ErrorCode.INTERNAL, 'internal error', { cause: error });
}

/** Maps a thrown error and logs what an operator must see of it: internal errors and storage outages. */
export function reportError(error: unknown, logger: NodeLogger, method: string | undefined): AftError {
  const aftError = toAftError(error);
  if (aftError.code === ErrorCode.INTERNAL) logger.error({ err: error, method }, 'request failed');
  else if (aftError.code === ErrorCode.STORAGE_UNAVAILABLE)
    logger.warn({ err: aftError }, 'storage unavailable');
  return aftError;
}

export function errorHandler(logger: NodeLogger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const aftError = reportError(error, logger, req.method);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendError(res, aftError);
  };
}

/** Maps errors to the REST API's error body and status (wire/errors.ts). */
import type { ErrorRequestHandler, Response } from 'express';
import { AftError, ErrorCode, errorBodyOf, HTTP_STATUS_OF_CODE } from '../../shim/errors.js';
import type { NodeLogger } from '../../shim/telemetry.js';

export function sendError(res: Response, error: AftError): void {
  if (error.code === ErrorCode.UNAUTHORIZED) res.set('WWW-Authenticate', 'Bearer');
  res.status(HTTP_STATUS_OF_CODE[error.code]).json(errorBodyOf(error));
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

export function errorHandler(logger: NodeLogger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const aftError = toAftError(error);
    if (aftError.code === ErrorCode.INTERNAL)
      logger.error({ err: error, method: req.method }, 'request failed');
    else if (aftError.code === ErrorCode.STORAGE_UNAVAILABLE)
      logger.warn({ err: aftError }, 'storage unavailable');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendError(res, aftError);
  };
}

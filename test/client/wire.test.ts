/**
 * The wire contract both sides share (wire/): an error crosses the REST API as its body and
 * comes back as the same typed error, details included, so the client never reads message
 * text; the client and the server name the routes alike.
 */
import {
  type AftError,
  BadRequestError,
  DuplicateCommittedError,
  DuplicateInProgressError,
  ErrorCode,
  errorBodyOf,
  errorFromBody,
  ForbiddenError,
  HTTP_STATUS_OF_CODE,
  KeyNotFoundError,
  NotReadyError,
  ShuttingDownError,
  StorageUnavailableError,
  TooLargeError,
  TransactionLostError,
  TransactionNotFoundError,
  TransactionNotRunningError,
  UnauthorizedError,
} from '../../wire/errors.js';

describe('wire errors', () => {
  const errors: AftError[] = [
    new BadRequestError('bad'),
    new UnauthorizedError(),
    new ForbiddenError(),
    new TransactionNotFoundError('t1'),
    new KeyNotFoundError('a/key'),
    new TransactionNotRunningError('t2', 'aborted', 'idle for too long'),
    new TransactionLostError('t3'),
    new DuplicateCommittedError('order-1', 't4'),
    new DuplicateInProgressError('order-2', 't5'),
    new TooLargeError('too big'),
    new StorageUnavailableError('down'),
    new ShuttingDownError(),
    new NotReadyError(),
  ];

  it.each(errors.map((error) => [`${error.name} (${error.message})`, error] as const))(
    '%s crosses the wire as itself',
    (_name, error) => {
      const body = JSON.parse(JSON.stringify(errorBodyOf(error)));
      const back = errorFromBody(HTTP_STATUS_OF_CODE[error.code], body);
      expect(back.constructor).toBe(error.constructor);
      expect({
        code: back.code,
        message: back.message,
        retryable: back.retryable,
        details: back.details,
      }).toEqual({
        code: error.code,
        message: error.message,
        retryable: error.retryable,
        details: error.details,
      });
    },
  );

  it('storage unavailable keeps what the body says: not retryable (a record damaged in storage), its details', () => {
    const back = errorFromBody(503, {
      error: {
        code: 'STORAGE_UNAVAILABLE',
        message: 'damaged',
        retryable: false,
        details: { versionId: 'v1' },
      },
    });
    expect(back).toBeInstanceOf(StorageUnavailableError);
    expect(back).toMatchObject({ retryable: false, details: { versionId: 'v1' } });
    // Without the flag (an older shim), it is retryable, as it always was.
    expect(errorFromBody(503, { error: { code: 'STORAGE_UNAVAILABLE', message: 'down' } }).retryable).toBe(
      true,
    );
  });

  it('the fields a client acts on come from details, not from the message', () => {
    const back = errorFromBody(409, {
      error: {
        code: 'TXN_NOT_RUNNING',
        message: 'whatever',
        retryable: false,
        details: { txid: 't', status: 'aborted' },
      },
    });
    expect(back).toBeInstanceOf(TransactionNotRunningError);
    expect((back as TransactionNotRunningError).status).toBe('aborted');
    expect((back as TransactionNotRunningError).txid).toBe('t');
  });

  it('a body that is not ours falls back on the status', () => {
    expect(errorFromBody(502, '<html>')).toMatchObject({ code: ErrorCode.INTERNAL, retryable: true });
    expect(errorFromBody(429, undefined)).toMatchObject({ code: ErrorCode.BAD_REQUEST, retryable: true });
    expect(errorFromBody(400, { error: { code: 'NO_SUCH_CODE', message: 'm' } })).toMatchObject({
      code: ErrorCode.BAD_REQUEST,
      message: 'm',
      retryable: false,
    });
  });
});

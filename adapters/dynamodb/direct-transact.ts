/**
 * A commit's TransactWriteItems, first sent without the SDK's middleware stack.
 *
 * Why: the SDK spends about 510 µs of CPU sending one TransactWriteItems of two items
 * (schema serialization, a middleware stack resolved per command, endpoint rules, retry
 * bookkeeping, user agent), this about 330 (`node dist/bench/dynamodb-items.js`, on DynamoDB
 * Local; bench/RESULTS.md "Goal 4"). That request is the whole of a commit's wait on
 * DynamoDB.
 *
 * How, without a second AWS client: the attempt uses the SDK client's own parts (its
 * credentials provider and signer, its clock offset, its HTTP handler with aft's timeouts and
 * keep-alive sockets) and the endpoint the SDK resolved for an earlier request of the client.
 * It answers only what it can tell for sure: written (200), or canceled with the reasons
 * (`TransactionCanceledException`, thrown as the SDK throws it). Anything else (no endpoint
 * known yet, a network error, a timeout, throttling, a 5xx, an answer it cannot read) goes to
 * the SDK, which sends the same input with its retries, clock-skew correction and errors. The
 * input carries its `ClientRequestToken`, so an attempt that landed and whose answer was lost
 * is answered as written by the SDK's repeat, as the SDK's own retries are.
 */
import type { DynamoDBClient, TransactWriteItemsCommandInput } from '@aws-sdk/client-dynamodb';
import type { Item } from './items.js';

/** What the attempt could tell; `unsure`: the SDK must send it. */
export type DirectOutcome = 'written' | 'unsure';

interface Endpoint {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: number | undefined;
  readonly path: string;
}

interface HttpRequestLike {
  readonly protocol?: string;
  readonly hostname?: string;
  readonly port?: number;
  readonly path?: string;
}

interface SdkParts {
  readonly signer: () => Promise<{
    sign(request: object, options: { signingDate: Date }): Promise<{ headers: Record<string, string> }>;
  }>;
  readonly systemClockOffset?: number;
  readonly requestHandler: {
    handle(
      request: object,
      options: { abortSignal?: AbortSignal },
    ): Promise<{
      response: { statusCode: number; headers: Record<string, string>; body: unknown };
    }>;
  };
  readonly streamCollector: (body: unknown) => Promise<Uint8Array>;
}

/** Answers in a row the attempt could not read before it stops trying for a while. */
const UNREAD_ANSWERS_BEFORE_PAUSE = 3;
const PAUSE_MS = 60_000;

export class DirectTransactWrites {
  private endpoint: Endpoint | undefined;
  /** Answers in a row that were neither written nor canceled (throttled, refused, 5xx). */
  private unreadInARow = 0;
  private pausedUntil = 0;

  constructor(
    private readonly client: DynamoDBClient,
    /** The clock of the pause (tests move it). */
    private readonly now: () => number = Date.now,
  ) {
    // Every request of the client passes here once built, its endpoint resolved by the SDK's
    // rules (region, FIPS, dual-stack, a custom endpoint): the attempt reuses the first's.
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as HttpRequestLike | undefined;
        if (!this.endpoint && request?.hostname && request.protocol) {
          this.endpoint = {
            protocol: request.protocol,
            hostname: request.hostname,
            port: request.port,
            path: request.path ?? '/',
          };
        }
        return next(args);
      },
      { step: 'build', name: 'aftEndpointOfRequests' },
    );
  }

  /**
   * One attempt at `input` (Put items only; its ClientRequestToken set). Resolves 'written',
   * or 'unsure'; throws a canceled transaction's error as the SDK does, or the signal's reason.
   */
  async attempt(input: TransactWriteItemsCommandInput, signal?: AbortSignal): Promise<DirectOutcome> {
    const endpoint = this.endpoint;
    const body = endpoint && wireBody(input);
    // An engine that keeps answering what the attempt cannot read (a signature it refuses,
    // say) would cost every commit a round trip more: it goes to the SDK alone for a while.
    if (!endpoint || body === undefined || this.now() < this.pausedUntil) return 'unsure';
    const config = this.client.config as unknown as SdkParts;
    let statusCode: number;
    let headers: Record<string, string>;
    let bytes: Uint8Array;
    try {
      const host = endpoint.port === undefined ? endpoint.hostname : `${endpoint.hostname}:${endpoint.port}`;
      const request = {
        method: 'POST',
        protocol: endpoint.protocol,
        hostname: endpoint.hostname,
        port: endpoint.port,
        path: endpoint.path,
        query: {},
        headers: {
          host,
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.TransactWriteItems',
          'content-length': String(Buffer.byteLength(body)),
        },
        body,
      };
      const signer = await config.signer();
      const signed = await signer.sign(request, {
        signingDate: new Date(Date.now() + (config.systemClockOffset ?? 0)),
      });
      const { response } = await config.requestHandler.handle(
        { ...request, headers: signed.headers },
        { abortSignal: signal },
      );
      bytes = await config.streamCollector(response.body);
      ({ statusCode, headers } = response);
      // An HTTP handler of another shape (a later SDK's) is an answer it cannot read either.
      if (typeof statusCode !== 'number') return this.unread();
      headers ??= {};
    } catch {
      // Whatever failed (a socket, a timeout, credentials), the SDK's send tells it properly.
      signal?.throwIfAborted();
      return 'unsure';
    }
    const canceled = statusCode === 200 ? undefined : canceledError(statusCode, headers, bytes);
    if (statusCode === 200 || canceled) {
      this.unreadInARow = 0;
      if (canceled) throw canceled;
      return 'written';
    }
    return this.unread();
  }

  /** Counts an answer neither written nor canceled; pauses the attempts at the third in a row. */
  private unread(): DirectOutcome {
    this.unreadInARow += 1;
    if (this.unreadInARow >= UNREAD_ANSWERS_BEFORE_PAUSE) {
      this.unreadInARow = 0;
      this.pausedUntil = this.now() + PAUSE_MS;
    }
    return 'unsure';
  }
}

/** The error the SDK throws for a canceled transaction: its name and reasons, in item order. */
function canceledError(
  statusCode: number,
  headers: Record<string, string>,
  bytes: Uint8Array,
): Error | undefined {
  if (statusCode !== 400) return undefined;
  let parsed: { __type?: unknown; message?: unknown; Message?: unknown; CancellationReasons?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  const type = String(headers['x-amzn-errortype'] ?? parsed.__type ?? '')
    .split(':')[0]!
    .split('#')
    .pop();
  if (type !== 'TransactionCanceledException' || !Array.isArray(parsed.CancellationReasons)) return undefined;
  const error = new Error(String(parsed.message ?? parsed.Message ?? 'Transaction cancelled'));
  error.name = 'TransactionCanceledException';
  return Object.assign(error, {
    CancellationReasons: parsed.CancellationReasons as Array<{ Code?: string }>,
  });
}

/** The request's JSON, or undefined for what the attempt does not send (any item but a Put). */
function wireBody(input: TransactWriteItemsCommandInput): string | undefined {
  const items: unknown[] = [];
  for (const item of input.TransactItems ?? []) {
    const put = item.Put;
    if (!put || Object.keys(item).length !== 1 || put.Item === undefined) return undefined;
    items.push({
      Put: {
        TableName: put.TableName,
        Item: wireItem(put.Item),
        ...(put.ConditionExpression !== undefined && { ConditionExpression: put.ConditionExpression }),
        ...(put.ExpressionAttributeNames !== undefined && {
          ExpressionAttributeNames: put.ExpressionAttributeNames,
        }),
        ...(put.ExpressionAttributeValues !== undefined && {
          ExpressionAttributeValues: wireItem(put.ExpressionAttributeValues),
        }),
      },
    });
  }
  if (input.ClientRequestToken === undefined) return undefined;
  return JSON.stringify({ TransactItems: items, ClientRequestToken: input.ClientRequestToken });
}

function wireItem(item: Item): Record<string, unknown> {
  const wired: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) wired[name] = wireValue(value);
  return wired;
}

/** An attribute value as DynamoDB's JSON has it: bytes in base64, the rest as they are. */
function wireValue(value: Item[string]): unknown {
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.M !== undefined) return { M: wireItem(value.M) };
  if (value.L !== undefined) return { L: value.L.map(wireValue) };
  return value;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

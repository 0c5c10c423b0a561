/**
 * Invoking another function through @aws-sdk/client-lambda. The SDK is loaded on first use
 * (the Lambda runtime ships it; the layer does not), and the client is created lazily unless
 * the caller passes its own. A local endpoint comes from AWS_ENDPOINT_URL_LAMBDA, as for any
 * SDK client (`aft lambda-local` sets it for the functions it runs).
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { AftError, ErrorCode } from '../wire/errors.js';

export type InvokeMode = 'sync' | 'async';

export interface InvokeRequest {
  readonly functionName: string;
  readonly payload: unknown;
  readonly mode: InvokeMode;
  /** Lambda's ClientContext, before base64 (sync calls only). */
  readonly clientContext?: { readonly custom: Readonly<Record<string, string>> };
  readonly signal?: AbortSignal;
}

export interface InvokeAnswer {
  /** The parsed JSON payload of a sync call; undefined for an async one. */
  readonly payload: unknown;
}

/** A called function failed (its handler threw, it timed out or its process died). */
export class FunctionError extends AftError {
  override readonly name: string = 'FunctionError';
  constructor(
    readonly functionName: string,
    /** Lambda's errorType, e.g. the name of the error the callee threw, or Runtime.ExitError. */
    readonly errorType: string,
    readonly errorMessage: string,
  ) {
    super(ErrorCode.FUNCTION_FAILED, `function ${functionName} failed: ${errorType}: ${errorMessage}`);
  }
}

export type Invoker = (request: InvokeRequest) => Promise<InvokeAnswer>;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** An Invoker over a LambdaClient: the one given, or one created on first use. */
export function lambdaInvoker(client?: LambdaClient): Invoker {
  let lazy: Promise<{ client: LambdaClient; sdk: typeof import('@aws-sdk/client-lambda') }> | undefined;
  const load = () => {
    lazy ??= import('@aws-sdk/client-lambda').then((sdk) => ({
      sdk,
      client: client ?? new sdk.LambdaClient({}),
    }));
    return lazy;
  };
  return async ({ functionName, payload, mode, clientContext, signal }) => {
    const { sdk, client: lambda } = await load();
    const output = await lambda.send(
      new sdk.InvokeCommand({
        FunctionName: functionName,
        InvocationType: mode === 'sync' ? 'RequestResponse' : 'Event',
        Payload: textEncoder.encode(JSON.stringify(payload ?? null)),
        ...(clientContext && {
          ClientContext: Buffer.from(JSON.stringify(clientContext)).toString('base64'),
        }),
      }),
      signal ? { abortSignal: signal } : {},
    );
    if (mode === 'async') return { payload: undefined };
    const text = output.Payload ? textDecoder.decode(output.Payload) : '';
    const parsed: unknown = text === '' ? null : JSON.parse(text);
    if (output.FunctionError) {
      const { errorType, errorMessage } = (parsed ?? {}) as { errorType?: string; errorMessage?: string };
      throw new FunctionError(functionName, errorType ?? output.FunctionError, errorMessage ?? text);
    }
    return { payload: parsed };
  };
}

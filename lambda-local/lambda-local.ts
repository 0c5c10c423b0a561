/**
 * `aft lambda-local`: the functions of a folder, served through the Lambda Invoke API on
 * 127.0.0.1, each run as Lambda runs it (function-pool.ts), with a layer on NODE_PATH. So
 * @aws-sdk/client-lambda pointed at it (AWS_ENDPOINT_URL_LAMBDA, or `endpoint`) calls them,
 * and so do the functions themselves (each gets AWS_ENDPOINT_URL_LAMBDA set to it).
 *
 * Invocation types: RequestResponse answers the function's result, or a function error
 * (X-Amz-Function-Error: Unhandled, the error as the payload); Event answers 202 at once and
 * runs the function, retrying a failure twice with the same request id, as Lambda does
 * (after `asyncRetryDelayMs` instead of Lambda's minutes); DryRun answers 204.
 *
 * Also served, for tests and tools: GET /local/functions (each function's processes and
 * the request each runs) and GET /local/async-invocations (each Event invocation's attempts
 * and outcome).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BadRequestError } from '../wire/errors.js';
import { FunctionPool, type InvocationOutcome } from './function-pool.js';
import { readFunctionsDirectory } from './functions-dir.js';

export interface LambdaLocalOptions {
  /** A folder of function folders (functions-dir.ts). */
  readonly functionsDirectory: string;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** 0 picks a free port. @default 9001 */
  readonly port?: number;
  /** A layer: a folder holding nodejs/node_modules (an unpacked `npm run build:layer` zip). @default this aft package */
  readonly layerDirectory?: string;
  /** The installed aft package (its dist/ and node_modules). */
  readonly packageRoot: string;
  /** Environment for every function (AFT_URL, ...), over the defaults. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Execution environments per function at most. @default 10 */
  readonly maxEnvironments?: number;
  /** Pause before each retry of a failed Event invocation. @default 1000 */
  readonly asyncRetryDelayMs?: number;
  /** @default us-east-1 */
  readonly region?: string;
  readonly log?: (line: string) => void;
}

export interface RunningLambdaLocal {
  readonly url: string;
  readonly functions: readonly string[];
  close(): Promise<void>;
}

interface AsyncInvocation {
  readonly functionName: string;
  readonly requestId: string;
  attempts: number;
  status: 'running' | 'succeeded' | 'failed';
  error?: string;
}

/** Lambda retries a failed asynchronous invocation twice. */
const ASYNC_ATTEMPTS = 3;

export async function startLambdaLocal(options: LambdaLocalOptions): Promise<RunningLambdaLocal> {
  const region = options.region ?? 'us-east-1';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const functions = readFunctionsDirectory(options.functionsDirectory, region);
  const packageRequire = createRequire(join(options.packageRoot, 'package.json'));
  let runtimeClient: string;
  try {
    runtimeClient = packageRequire.resolve('aws-lambda-ric');
  } catch (error) {
    throw new BadRequestError(
      'aft lambda-local runs functions under the AWS Lambda runtime interface client: npm install aws-lambda-ric',
      { cause: error },
    );
  }

  let sdkScope: string;
  try {
    // The functions' SDK, as the Lambda runtime provides it: @aws-sdk/client-lambda and its scope.
    sdkScope = dirname(dirname(packageRequire.resolve('@aws-sdk/client-lambda/package.json')));
  } catch (error) {
    throw new BadRequestError(
      'aft lambda-local gives functions the AWS SDK as Lambda does, from @aws-sdk/client-lambda: ' +
        'npm install @aws-sdk/client-lambda',
      { cause: error },
    );
  }

  // The layer on NODE_PATH, and the AWS SDK where Lambda's runtime keeps it.
  const scratch = mkdtempSync(join(tmpdir(), 'aft-lambda-local-'));
  let layer = options.layerDirectory ? resolve(options.layerDirectory) : undefined;
  if (!layer) {
    layer = join(scratch, 'layer');
    mkdirSync(join(layer, 'nodejs', 'node_modules'), { recursive: true });
    symlinkSync(options.packageRoot, join(layer, 'nodejs', 'node_modules', 'aft-shim'), 'dir');
  }
  const runtimeModules = join(scratch, 'runtime', 'node_modules');
  mkdirSync(runtimeModules, { recursive: true });
  symlinkSync(sdkScope, join(runtimeModules, '@aws-sdk'), 'dir');

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendAwsError(response, 500, 'ServiceException', String(error));
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9001, options.host ?? '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;

  const hooks = pathToFileURL(
    join(options.packageRoot, 'dist', 'lambda-local', 'register-node-path.js'),
  ).href;
  const environment: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_PATH: [join(layer, 'nodejs', 'node_modules'), runtimeModules].join(delimiter),
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    // Local credentials: the SDK signs requests; lambda-local does not check them.
    AWS_ACCESS_KEY_ID: 'lambda-local',
    AWS_SECRET_ACCESS_KEY: 'lambda-local',
    AWS_SESSION_TOKEN: 'lambda-local',
    AWS_ENDPOINT_URL_LAMBDA: url,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    TZ: ':UTC',
    ...options.environment,
  };
  const pools = new Map(
    functions.map((fn) => [
      fn.name,
      new FunctionPool({
        fn,
        runtimeClient,
        environment,
        nodeArguments: ['--import', hooks],
        maxEnvironments: options.maxEnvironments ?? 10,
        log,
      }),
    ]),
  );
  const asyncInvocations: AsyncInvocation[] = [];
  const retryTimers = new Set<NodeJS.Timeout>();
  let closing = false;

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const path = new URL(request.url ?? '/', url).pathname;
    if (request.method === 'GET' && path === '/local/functions') {
      sendJson(response, 200, Object.fromEntries([...pools].map(([name, pool]) => [name, pool.describe()])));
      return;
    }
    if (request.method === 'GET' && path === '/local/async-invocations') {
      sendJson(response, 200, asyncInvocations);
      return;
    }
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(path);
    if (request.method !== 'POST' || !match) {
      sendAwsError(response, 404, 'UnknownOperationException', `no operation ${request.method} ${path}`);
      return;
    }
    const name = functionNameOf(decodeURIComponent(match[1]!));
    const pool = pools.get(name);
    if (!pool) {
      sendAwsError(response, 404, 'ResourceNotFoundException', `Function not found: ${name}`);
      return;
    }
    const payload = Buffer.concat(chunks);
    if (payload.length > 0) {
      try {
        JSON.parse(payload.toString('utf8'));
      } catch {
        sendAwsError(
          response,
          400,
          'InvalidRequestContentException',
          'Could not parse request body into json',
        );
        return;
      }
    }
    let clientContext: string | undefined;
    const encodedContext = request.headers['x-amz-client-context'];
    if (typeof encodedContext === 'string' && encodedContext !== '') {
      clientContext = Buffer.from(encodedContext, 'base64').toString('utf8');
    }
    const invocationType = request.headers['x-amz-invocation-type'] ?? 'RequestResponse';
    const requestId = randomUUID();
    if (invocationType === 'DryRun') {
      response.writeHead(204, { 'x-amzn-requestid': requestId }).end();
      return;
    }
    if (invocationType === 'Event') {
      const record: AsyncInvocation = { functionName: name, requestId, attempts: 0, status: 'running' };
      asyncInvocations.push(record);
      response.writeHead(202, { 'x-amzn-requestid': requestId }).end();
      runAsync(pool, record, payload);
      return;
    }
    if (invocationType !== 'RequestResponse') {
      sendAwsError(
        response,
        400,
        'InvalidParameterValueException',
        `unknown invocation type ${invocationType}`,
      );
      return;
    }
    const outcome = await pool.invoke(
      payload.length > 0 ? payload : Buffer.from('{}'),
      clientContext,
      requestId,
    );
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-amzn-requestid': requestId,
      'x-amz-executed-version': '$LATEST',
    };
    if (!outcome.ok) headers['x-amz-function-error'] = 'Unhandled';
    response.writeHead(200, headers).end(outcome.payload);
  }

  function runAsync(pool: FunctionPool, record: AsyncInvocation, payload: Buffer): void {
    record.attempts += 1;
    pool
      .invoke(payload.length > 0 ? payload : Buffer.from('{}'), undefined, record.requestId)
      .then((outcome: InvocationOutcome) => {
        if (outcome.ok) {
          record.status = 'succeeded';
          return;
        }
        record.error = `${outcome.errorType}: ${outcome.errorMessage}`;
        if (record.attempts >= ASYNC_ATTEMPTS || closing) {
          record.status = 'failed';
          log(`${record.functionName}: event ${record.requestId} failed ${record.attempts} times; dropped`);
          return;
        }
        log(`${record.functionName}: event ${record.requestId} failed (${record.error}); retrying`);
        const timer = setTimeout(() => {
          retryTimers.delete(timer);
          runAsync(pool, record, payload);
        }, options.asyncRetryDelayMs ?? 1000);
        retryTimers.add(timer);
      });
  }

  log(`lambda-local: the Lambda Invoke API at ${url} for ${functions.map((fn) => fn.name).join(', ')}`);
  return {
    url,
    functions: functions.map((fn) => fn.name),
    async close() {
      closing = true;
      for (const timer of retryTimers) clearTimeout(timer);
      await Promise.all([...pools.values()].map((pool) => pool.close()));
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      server.closeAllConnections();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** A function name, a name with a qualifier, or an ARN: the name. */
function functionNameOf(raw: string): string {
  const arn = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)/.exec(raw);
  if (arn) return arn[1]!;
  return raw.split(':')[0]!;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** An error as the Lambda API sends one: the type in x-amzn-errortype, which the SDK reads. */
function sendAwsError(response: ServerResponse, status: number, type: string, message: string): void {
  response
    .writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type })
    .end(JSON.stringify({ Type: 'User', message }));
}

/**
 * One function run as Lambda runs it: each execution environment is a process under the
 * real runtime interface client (aws-lambda-ric), talking to its own local Runtime API
 * (GET next invocation, POST response or error). An environment handles one invocation at a
 * time; when all are busy a new one starts, up to a limit. An invocation that outlives the
 * function's timeout, or whose process dies, fails as on Lambda (Sandbox.Timedout,
 * Runtime.ExitError) and its environment is replaced.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalFunction } from './functions-dir.js';

export interface Invocation {
  readonly requestId: string;
  readonly payload: Buffer;
  /** Lambda's ClientContext as JSON text (already decoded from base64). */
  readonly clientContext: string | undefined;
}

export type InvocationOutcome =
  | { readonly ok: true; readonly payload: Buffer }
  | {
      readonly ok: false;
      readonly errorType: string;
      readonly errorMessage: string;
      readonly payload: Buffer;
    };

export interface FunctionPoolOptions {
  readonly fn: LocalFunction;
  /** The runtime interface client's entry point (aws-lambda-ric's index.mjs). */
  readonly runtimeClient: string;
  /** Environment every process of this function gets (AWS_*, NODE_PATH, AFT_*, ...). */
  readonly environment: Readonly<Record<string, string>>;
  /** Node flags, e.g. the --import of the NODE_PATH hook. */
  readonly nodeArguments: readonly string[];
  readonly maxEnvironments: number;
  readonly log: (line: string) => void;
}

interface Pending {
  readonly invocation: Invocation;
  readonly resolve: (outcome: InvocationOutcome) => void;
}

interface Environment {
  readonly id: number;
  readonly server: Server;
  /** Set once its Runtime API listens and the process is spawned. */
  process: ChildProcess | undefined;
  /** The runtime's long poll for its next invocation, while it waits. */
  waiting: ServerResponse | undefined;
  current: (Pending & { timer: NodeJS.Timeout }) | undefined;
  exited: boolean;
}

const RUNTIME_PATH = '/2018-06-01/runtime';

export class FunctionPool {
  private readonly queue: Pending[] = [];
  private readonly environments = new Set<Environment>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: FunctionPoolOptions) {}

  get name(): string {
    return this.options.fn.name;
  }

  /** The processes running this function and what each runs now. */
  describe(): { pid: number | undefined; requestId: string | null }[] {
    return [...this.environments].map((environment) => ({
      pid: environment.process?.pid,
      requestId: environment.current?.invocation.requestId ?? null,
    }));
  }

  invoke(
    payload: Buffer,
    clientContext?: string,
    requestId: string = randomUUID(),
  ): Promise<InvocationOutcome> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve(failure('Runtime.Unavailable', 'lambda-local is shutting down'));
        return;
      }
      this.queue.push({ invocation: { requestId, payload, clientContext }, resolve });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0)) {
      pending.resolve(failure('Runtime.Unavailable', 'lambda-local is shutting down'));
    }
    await Promise.all([...this.environments].map((environment) => this.retire(environment, 'SIGTERM')));
  }

  /** Hands queued invocations to waiting environments; starts environments for the rest. */
  private dispatch(): void {
    for (const environment of this.environments) {
      if (this.queue.length === 0) return;
      if (environment.waiting && !environment.current) this.assign(environment, this.queue.shift()!);
    }
    const starting = [...this.environments].filter(
      (environment) => !environment.waiting && !environment.current,
    );
    let missing = this.queue.length - starting.length;
    while (missing > 0 && this.environments.size < this.options.maxEnvironments) {
      this.start();
      missing -= 1;
    }
  }

  private assign(environment: Environment, pending: Pending): void {
    const response = environment.waiting!;
    environment.waiting = undefined;
    const { fn } = this.options;
    const timer = setTimeout(() => {
      this.options.log(`${fn.name}: ${pending.invocation.requestId} timed out after ${fn.timeoutSeconds} s`);
      this.finish(
        environment,
        failure('Sandbox.Timedout', `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`),
      );
      void this.retire(environment, 'SIGKILL');
    }, fn.timeoutSeconds * 1000);
    environment.current = { ...pending, timer };
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'lambda-runtime-aws-request-id': pending.invocation.requestId,
      'lambda-runtime-deadline-ms': String(Date.now() + fn.timeoutSeconds * 1000),
      'lambda-runtime-invoked-function-arn': fn.arn,
      'lambda-runtime-trace-id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    };
    if (pending.invocation.clientContext !== undefined) {
      headers['lambda-runtime-client-context'] = pending.invocation.clientContext;
    }
    response.writeHead(200, headers).end(pending.invocation.payload);
  }

  private finish(environment: Environment, outcome: InvocationOutcome): void {
    const current = environment.current;
    if (!current) return;
    clearTimeout(current.timer);
    environment.current = undefined;
    current.resolve(outcome);
  }

  private start(): void {
    const id = this.nextId++;
    const server = createServer((request, response) => {
      this.serveRuntimeApi(environment, request, response).catch((error: unknown) => {
        response.writeHead(500).end(String(error));
      });
    });
    server.listen(0, '127.0.0.1');
    const { fn } = this.options;
    const environment: Environment = {
      id,
      server,
      process: undefined,
      waiting: undefined,
      current: undefined,
      exited: false,
    };
    server.once('listening', () => {
      const { port } = server.address() as AddressInfo;
      const child = spawn(
        process.execPath,
        [...this.options.nodeArguments, this.options.runtimeClient, fn.handler],
        {
          cwd: fn.directory,
          env: {
            ...this.options.environment,
            AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
            LAMBDA_TASK_ROOT: fn.directory,
            _HANDLER: fn.handler,
            AWS_LAMBDA_FUNCTION_NAME: fn.name,
            AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
            AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
            AWS_LAMBDA_LOG_STREAM_NAME: `local/${id}`,
            ...fn.environment,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      environment.process = child;
      const prefix = `${fn.name}#${id}`;
      for (const stream of [child.stdout, child.stderr]) {
        let rest = '';
        stream?.setEncoding('utf8').on('data', (chunk: string) => {
          const lines = (rest + chunk).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) this.options.log(`${prefix} ${line}`);
        });
      }
      child.once('exit', (code, signal) => {
        environment.exited = true;
        const current = environment.current;
        if (current) {
          this.options.log(`${prefix} exited (${signal ?? code}) running ${current.invocation.requestId}`);
          this.finish(
            environment,
            failure(
              'Runtime.ExitError',
              `RequestId: ${current.invocation.requestId} Error: Runtime exited with error: ${signal ? `signal: ${signal === 'SIGKILL' ? 'killed' : signal}` : `exit status ${code}`}`,
            ),
          );
        }
        environment.waiting?.destroy();
        environment.server.close();
        this.environments.delete(environment);
        if (!this.closed) this.dispatch();
      });
    });
    this.environments.add(environment);
  }

  private async serveRuntimeApi(
    environment: Environment,
    request: IncomingMessage,
    response: ServerResponse,
  ) {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const path = request.url ?? '';
    if (request.method === 'GET' && path === `${RUNTIME_PATH}/invocation/next`) {
      environment.waiting = response;
      // A runtime killed while it waits drops this connection, often before its exit is
      // reported: stop counting it as ready, so no invocation is handed to a dead process.
      response.once('close', () => {
        if (environment.waiting === response) environment.waiting = undefined;
      });
      const next = this.queue.shift();
      if (next) this.assign(environment, next);
      return;
    }
    const match = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(path);
    if (request.method === 'POST' && match) {
      const requestId = decodeURIComponent(match[1]!);
      if (environment.current?.invocation.requestId !== requestId) {
        response
          .writeHead(400, { 'content-type': 'application/json' })
          .end('{"errorType":"InvalidRequestID"}');
        return;
      }
      response.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"OK"}');
      if (match[2] === 'response') {
        this.finish(environment, { ok: true, payload: body });
      } else {
        const { errorType, errorMessage } = parseError(body);
        this.finish(environment, { ok: false, errorType, errorMessage, payload: body });
      }
      return;
    }
    if (request.method === 'POST' && path === `${RUNTIME_PATH}/init/error`) {
      const { errorType, errorMessage } = parseError(body);
      this.options.log(`${this.name}#${environment.id} failed to start: ${errorType}: ${errorMessage}`);
      response.writeHead(202).end();
      // The runtime exits next; its queued invocations fail with the init error, as on Lambda.
      for (const pending of this.queue.splice(0)) {
        pending.resolve({ ok: false, errorType, errorMessage, payload: body });
      }
      return;
    }
    response.writeHead(404).end();
  }

  private async retire(environment: Environment, signal: NodeJS.Signals): Promise<void> {
    const child = environment.process;
    if (environment.exited || !child) {
      environment.server.close();
      this.environments.delete(environment);
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}

function failure(errorType: string, errorMessage: string): InvocationOutcome {
  return {
    ok: false,
    errorType,
    errorMessage,
    payload: Buffer.from(JSON.stringify({ errorType, errorMessage })),
  };
}

function parseError(body: Buffer): { errorType: string; errorMessage: string } {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errorType?: string; errorMessage?: string };
    return { errorType: parsed.errorType ?? 'Error', errorMessage: parsed.errorMessage ?? '' };
  } catch {
    return { errorType: 'Error', errorMessage: body.toString('utf8') };
  }
}

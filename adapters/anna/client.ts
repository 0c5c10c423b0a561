/**
 * A client of Anna's wire protocol (../shared/design/anna-wire.md) over ZeroMQ: GET and PUT
 * of one key per request, with the routing lookups, caches, retries and time-outs a real
 * deployment needs.
 *
 * - Two PULL sockets are bound before anything is sent (address replies, key replies); Anna
 *   answers by connecting to the response address each request names, so the client never
 *   advertises an address it is not bound to, and never an empty one.
 * - A key's storage-thread endpoints come from the routing node (one key per
 *   KeyAddressRequest: Anna answers only the first of several unseen keys) and are cached.
 *   WRONG_THREAD drops the cache entry and looks up again; `invalidate` drops it and keeps
 *   the answer; NO_SERVERS, time-outs and lost replies are retried with backoff, a bounded
 *   number of times.
 * - Replies are matched by (response_id, key). At most `maxInFlight` requests are out at once.
 * - close() stops new requests, lets those in flight finish (or time out), then closes.
 */
import { randomBytes } from 'node:crypto';
import type { Pull, Push } from 'zeromq';
import { backoffDelay, sleep } from '../backoff.js';
import { missingEnginePackage } from '../engine-packages.js';
import {
  AnnaError,
  decodeKeyAddressResponse,
  decodeKeyResponse,
  encodeKeyAddressRequest,
  encodeKeyRequest,
  type KeyTuple,
  type LatticeType,
  loadAnnaMessages,
  RequestType,
} from './messages.js';

export interface AnnaClientOptions {
  /** Routing endpoints, e.g. tcp://10.0.0.5:6450 (one per routing thread: 6450 + thread id). */
  readonly routing: readonly string[];
  /** The address Anna connects back to. @default 127.0.0.1 */
  readonly responseHost?: string;
  /** The address the PULL sockets bind to. @default 0.0.0.0 when responseHost is not loopback, else responseHost */
  readonly bindHost?: string;
  /** Port of the address-reply socket. @default an ephemeral port */
  readonly addressPort?: number;
  /** Port of the key-reply socket. @default an ephemeral port */
  readonly keyPort?: number;
  /** How long a reply may take. @default 2000 */
  readonly timeoutMs?: number;
  /** Attempts per request, the first included. @default 6 */
  readonly attempts?: number;
  /** Requests out at once at most. @default 256 */
  readonly maxInFlight?: number;
}

/** Anna did not answer, or answered with an error, after every attempt. */
export class AnnaRequestError extends Error {
  override readonly name = 'AnnaRequestError';
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

type AnnaResponseTuple = KeyTuple;

function errorName(code: AnnaError): string {
  return Object.entries(AnnaError).find(([, value]) => value === code)?.[0] ?? `error ${code}`;
}

type ZeroMq = typeof import('zeromq');

export class AnnaClient {
  private readonly pushes = new Map<string, Push>();
  private readonly endpoints = new Map<string, readonly string[]>();
  private readonly addressWaiters = new Map<string, Waiter<readonly string[] | AnnaError>>();
  private readonly keyWaiters = new Map<string, Waiter<AnnaResponseTuple>>();
  private readonly clientId = randomBytes(6).toString('hex');
  private sequence = 0;
  private routingTurn = 0;
  private inFlight = 0;
  private readonly queue: (() => void)[] = [];
  private closing = false;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly maxInFlight: number;

  private constructor(
    private readonly zmq: ZeroMq,
    private readonly routing: readonly string[],
    private readonly addressPull: Pull,
    private readonly keyPull: Pull,
    private readonly addressReplyTo: string,
    private readonly keyReplyTo: string,
    options: AnnaClientOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.attempts = options.attempts ?? 6;
    this.maxInFlight = options.maxInFlight ?? 256;
    void this.receive(addressPull, (frame) => this.onAddressReply(frame));
    void this.receive(keyPull, (frame) => this.onKeyReply(frame));
  }

  static async open(options: AnnaClientOptions): Promise<AnnaClient> {
    if (options.routing.length === 0) throw new TypeError('Anna needs at least one routing endpoint');
    const responseHost = options.responseHost ?? '127.0.0.1';
    const bindHost = options.bindHost ?? (/^127\.|^localhost$/.test(responseHost) ? responseHost : '0.0.0.0');
    // Loaded here, not at import: a shim on any other engine never loads the native addon.
    const zmq: ZeroMq = await import('zeromq').catch(missingEnginePackage('zeromq', 'anna'));
    await loadAnnaMessages();
    const bind = async (port: number | undefined) => {
      const pull = new zmq.Pull({ linger: 0 });
      await pull.bind(`tcp://${bindHost}:${port ?? '*'}`);
      const bound = /:(\d+)$/.exec(pull.lastEndpoint ?? '')?.[1];
      if (!bound) throw new AnnaRequestError(`could not bind a reply socket on ${bindHost}`);
      return { pull, replyTo: `tcp://${responseHost}:${bound}` };
    };
    const address = await bind(options.addressPort);
    const key = await bind(options.keyPort).catch((error: unknown) => {
      address.pull.close();
      throw error;
    });
    return new AnnaClient(
      zmq,
      options.routing,
      address.pull,
      key.pull,
      address.replyTo,
      key.replyTo,
      options,
    );
  }

  /** The tuple Anna answers for `key` (its error is KEY_DNE when nothing is stored). */
  async get(key: string, signal?: AbortSignal): Promise<KeyTuple> {
    return this.request(RequestType.GET, { key }, signal);
  }

  /** Stores a lattice value; resolves once Anna applied it (NO_ERROR with the same lattice type). */
  async put(key: string, latticeType: LatticeType, payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    const answer = await this.request(RequestType.PUT, { key, lattice_type: latticeType, payload }, signal);
    if ((answer.error ?? AnnaError.NO_ERROR) !== AnnaError.NO_ERROR || answer.lattice_type !== latticeType) {
      throw new AnnaRequestError(
        `Anna did not apply the PUT of ${JSON.stringify(key)} (${errorName(answer.error ?? AnnaError.NO_ERROR)}, lattice type ${answer.lattice_type ?? 0} for ${latticeType}): is the key stored with another lattice type?`,
      );
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    const drainedBy = Date.now() + this.timeoutMs * 2;
    while (this.inFlight > 0 && Date.now() < drainedBy) await sleep(10);
    for (const waiter of [...this.addressWaiters.values(), ...this.keyWaiters.values()]) {
      waiter.reject(new AnnaRequestError('the Anna client closed'));
    }
    for (const push of this.pushes.values()) push.close();
    this.addressPull.close();
    this.keyPull.close();
  }

  private async request(type: RequestType, tuple: KeyTuple, signal?: AbortSignal): Promise<KeyTuple> {
    if (this.closing) throw new AnnaRequestError('the Anna client is closed');
    await this.acquire(signal);
    try {
      let lastProblem = 'no answer';
      for (let attempt = 1; attempt <= this.attempts; attempt++) {
        signal?.throwIfAborted();
        if (attempt > 1) await sleep(backoffDelay(attempt - 1, 20, 1000), signal);
        const endpoints = await this.lookup(tuple.key, signal);
        if (typeof endpoints === 'number') {
          lastProblem =
            endpoints === AnnaError.TIMEOUT
              ? `no reply from the routing node within ${this.timeoutMs} ms`
              : `the routing node answered ${errorName(endpoints)}`;
          continue;
        }
        const endpoint = endpoints[Math.floor(Math.random() * endpoints.length)]!;
        const requestId = this.nextRequestId();
        const reply = this.await(this.keyWaiters, `${requestId}\0${tuple.key}`, signal);
        await this.send(
          endpoint,
          encodeKeyRequest({
            type,
            tuples: [{ ...tuple, address_cache_size: this.endpoints.size }],
            response_address: this.keyReplyTo,
            request_id: requestId,
          }),
        );
        const answer = await reply;
        if (answer === undefined) {
          // Lost, or the thread is gone: ask the routing node again next time.
          this.endpoints.delete(tuple.key);
          lastProblem = `no reply from ${endpoint} within ${this.timeoutMs} ms`;
          continue;
        }
        if (answer.error === AnnaError.WRONG_THREAD) {
          this.endpoints.delete(tuple.key);
          lastProblem = `${endpoint} does not own the key (WRONG_THREAD)`;
          continue;
        }
        if (answer.invalidate) this.endpoints.delete(tuple.key);
        return answer;
      }
      throw new AnnaRequestError(
        `Anna ${type === RequestType.GET ? 'GET' : 'PUT'} of ${JSON.stringify(tuple.key)} failed: ${lastProblem}`,
      );
    } finally {
      this.release();
    }
  }

  /** The storage endpoints of a key: cached, else asked of a routing node (or the routing error). */
  private async lookup(key: string, signal?: AbortSignal): Promise<readonly string[] | AnnaError> {
    const cached = this.endpoints.get(key);
    if (cached) return cached;
    const routing = this.routing[this.routingTurn++ % this.routing.length]!;
    const requestId = this.nextRequestId();
    const reply = this.await(this.addressWaiters, requestId, signal);
    await this.send(
      routing,
      encodeKeyAddressRequest({ response_address: this.addressReplyTo, keys: [key], request_id: requestId }),
    );
    const answer = await reply;
    if (answer === undefined) return AnnaError.TIMEOUT;
    if (typeof answer === 'number') return answer;
    if (answer.length === 0) return AnnaError.NO_SERVERS;
    this.endpoints.set(key, answer);
    return answer;
  }

  /** A reply's promise: resolves with undefined when none comes within the time-out. */
  private await<T>(
    waiters: Map<string, Waiter<T>>,
    id: string,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(id);
        signal?.removeEventListener('abort', onAbort);
      };
      const timer = setTimeout(() => {
        done();
        resolve(undefined);
      }, this.timeoutMs);
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.set(id, {
        resolve: (value) => {
          done();
          resolve(value);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
    });
  }

  private async send(endpoint: string, frame: Uint8Array): Promise<void> {
    let push = this.pushes.get(endpoint);
    if (!push) {
      push = new this.zmq.Push({ linger: 0, sendTimeout: this.timeoutMs, sendHighWaterMark: 10_000 });
      push.connect(endpoint);
      this.pushes.set(endpoint, push);
    }
    try {
      await push.send(frame);
    } catch {
      // Not sent (the peer is unreachable and the queue is full): the reply's time-out retries it.
    }
  }

  private onAddressReply(frame: Buffer): void {
    const reply = decodeKeyAddressResponse(frame);
    const waiter = this.addressWaiters.get(reply.response_id ?? '');
    if (!waiter) return;
    if ((reply.error ?? AnnaError.NO_ERROR) !== AnnaError.NO_ERROR) {
      waiter.resolve(reply.error!);
      return;
    }
    waiter.resolve(reply.addresses[0]?.ips ?? []);
  }

  private onKeyReply(frame: Buffer): void {
    const reply = decodeKeyResponse(frame);
    for (const tuple of reply.tuples) {
      this.keyWaiters.get(`${reply.response_id ?? ''}\0${tuple.key}`)?.resolve(tuple);
    }
  }

  private async receive(pull: Pull, handle: (frame: Buffer) => void): Promise<void> {
    try {
      for await (const [frame] of pull) {
        try {
          if (frame) handle(frame);
        } catch {
          // A frame that is not Anna's message: ignore it.
        }
      }
    } catch {
      // The socket closed.
    }
  }

  private nextRequestId(): string {
    this.sequence += 1;
    return `${this.clientId}:${this.sequence}`;
  }

  private async acquire(signal?: AbortSignal): Promise<void> {
    if (this.inFlight < this.maxInFlight) {
      this.inFlight += 1;
      return;
    }
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.queue.splice(this.queue.indexOf(wake), 1);
        reject(signal!.reason);
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(wake);
    });
    this.inFlight += 1;
  }

  private release(): void {
    this.inFlight -= 1;
    this.queue.shift()?.();
  }
}

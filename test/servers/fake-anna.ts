/**
 * A protocol-faithful fake of a single-node Anna (../shared/design/anna-wire.md), on ZeroMQ
 * on 127.0.0.1, for the tests: Anna cannot be installed from npm or Debian. It speaks the
 * same frames and reproduces the real server's quirks:
 *
 *   - a routing thread answers KeyAddressRequests, only for the first key of several;
 *   - storage threads own keys by hash; a KeyRequest to the wrong one answers WRONG_THREAD;
 *   - LWW keeps the incoming value when its timestamp is >= the stored one; SET unions;
 *   - GET of a missing key, or of an LWW value with empty bytes, answers KEY_DNE;
 *   - a PUT with another lattice type than the stored one, or NONE, answers NO_ERROR with
 *     lattice_type NONE and is not applied;
 *   - a KeyRequest with several tuples is answered by one KeyResponse per tuple.
 *
 * Faults on demand: drop the next N replies, answer the next N key requests WRONG_THREAD
 * or with `invalidate`, answer the next N lookups NO_SERVERS.
 */
import { createHash } from 'node:crypto';
import { Pull, Push } from 'zeromq';
import {
  AnnaError,
  decodeKeyAddressRequest,
  decodeKeyRequest,
  decodeLww,
  decodeSet,
  encodeKeyAddressResponse,
  encodeKeyResponse,
  encodeSet,
  type KeyTuple,
  LatticeType,
  loadAnnaMessages,
  RequestType,
} from '../../adapters/anna/messages.js';

interface Stored {
  readonly latticeType: number;
  readonly payload: Uint8Array;
}

export interface FakeAnnaFaults {
  dropReplies: number;
  wrongThread: number;
  invalidate: number;
  noServers: number;
}

export class FakeAnna {
  readonly store = new Map<string, Stored>();
  readonly faults: FakeAnnaFaults = { dropReplies: 0, wrongThread: 0, invalidate: 0, noServers: 0 };
  /** Requests seen, by kind, for tests that count retries. */
  readonly seen = { lookups: 0, keyRequests: 0 };
  private readonly pushes = new Map<string, Push>();

  private constructor(
    private readonly routing: Pull,
    private readonly threads: readonly { pull: Pull; endpoint: string }[],
    readonly routingEndpoint: string,
  ) {
    void this.serve(routing, (frame) => this.onLookup(frame));
    threads.forEach((thread, index) => {
      void this.serve(thread.pull, (frame) => this.onKeyRequest(frame, index));
    });
  }

  static async start(options: { threads?: number } = {}): Promise<FakeAnna> {
    await loadAnnaMessages();
    const bind = async () => {
      const pull = new Pull({ linger: 0 });
      await pull.bind('tcp://127.0.0.1:*');
      return { pull, endpoint: pull.lastEndpoint! };
    };
    const routing = await bind();
    const threads = [];
    for (let i = 0; i < (options.threads ?? 2); i++) threads.push(await bind());
    return new FakeAnna(routing.pull, threads, routing.endpoint);
  }

  /** The storage URL of an aft adapter over this fake. */
  get url(): string {
    return `anna://${this.routingEndpoint.replace('tcp://', '')}`;
  }

  close(): void {
    this.routing.close();
    for (const thread of this.threads) thread.pull.close();
    for (const push of this.pushes.values()) push.close();
  }

  private ownerOf(key: string): number {
    return createHash('sha1').update(key).digest().readUInt32BE(0) % this.threads.length;
  }

  private async onLookup(frame: Buffer): Promise<void> {
    this.seen.lookups += 1;
    const request = decodeKeyAddressRequest(frame);
    if (!request.response_address) throw new Error('the routing node aborts on an empty response_address');
    if (this.faults.noServers > 0) {
      this.faults.noServers -= 1;
      await this.reply(
        request.response_address,
        encodeKeyAddressResponse({
          addresses: [],
          error: AnnaError.NO_SERVERS,
          response_id: request.request_id,
        }),
      );
      return;
    }
    // Only the first of several keys is answered, as on the real server.
    const key = request.keys[0];
    const addresses = key === undefined ? [] : [{ key, ips: [this.threads[this.ownerOf(key)]!.endpoint] }];
    await this.reply(
      request.response_address,
      encodeKeyAddressResponse({ addresses, response_id: request.request_id }),
    );
  }

  private async onKeyRequest(frame: Buffer, thread: number): Promise<void> {
    this.seen.keyRequests += 1;
    const request = decodeKeyRequest(frame);
    for (const tuple of request.tuples) {
      const answer = this.apply(request.type, tuple, thread);
      await this.reply(
        request.response_address,
        encodeKeyResponse({ type: request.type, tuples: [answer], response_id: request.request_id }),
      );
    }
  }

  private apply(type: number, tuple: KeyTuple, thread: number): KeyTuple {
    if (this.faults.wrongThread > 0 || this.ownerOf(tuple.key) !== thread) {
      if (this.faults.wrongThread > 0) this.faults.wrongThread -= 1;
      return { key: tuple.key, error: AnnaError.WRONG_THREAD };
    }
    const invalidate = this.faults.invalidate > 0;
    if (invalidate) this.faults.invalidate -= 1;
    const stored = this.store.get(tuple.key);
    if (type === RequestType.GET) {
      if (!stored) return { key: tuple.key, error: AnnaError.KEY_DNE, invalidate };
      const emptyLww = stored.latticeType === LatticeType.LWW && decodeLww(stored.payload).value.length === 0;
      return {
        key: tuple.key,
        lattice_type: stored.latticeType as LatticeType,
        payload: stored.payload,
        invalidate,
        ...(emptyLww && { error: AnnaError.KEY_DNE }),
      };
    }
    const latticeType = tuple.lattice_type ?? LatticeType.NONE;
    if (latticeType === LatticeType.NONE || (stored && stored.latticeType !== latticeType)) {
      return { key: tuple.key, lattice_type: LatticeType.NONE, invalidate };
    }
    const incoming = tuple.payload ?? new Uint8Array();
    if (!stored) {
      this.store.set(tuple.key, { latticeType, payload: incoming });
    } else if (latticeType === LatticeType.LWW) {
      if (decodeLww(incoming).timestamp >= decodeLww(stored.payload).timestamp) {
        this.store.set(tuple.key, { latticeType, payload: incoming });
      }
    } else if (latticeType === LatticeType.SET || latticeType === LatticeType.ORDERED_SET) {
      const members = new Map<string, Uint8Array>();
      for (const value of [...decodeSet(stored.payload).values, ...decodeSet(incoming).values]) {
        members.set(Buffer.from(value).toString('hex'), value);
      }
      this.store.set(tuple.key, { latticeType, payload: encodeSet({ values: [...members.values()] }) });
    } else {
      this.store.set(tuple.key, { latticeType, payload: incoming });
    }
    return { key: tuple.key, lattice_type: latticeType, invalidate };
  }

  private async reply(address: string, frame: Uint8Array): Promise<void> {
    if (this.faults.dropReplies > 0) {
      this.faults.dropReplies -= 1;
      return;
    }
    let push = this.pushes.get(address);
    if (!push) {
      push = new Push({ linger: 0, sendTimeout: 1000 });
      push.connect(address);
      this.pushes.set(address, push);
    }
    await push.send(frame).catch(() => undefined);
  }

  private async serve(pull: Pull, handle: (frame: Buffer) => Promise<void>): Promise<void> {
    try {
      for await (const [frame] of pull) {
        if (frame) await handle(frame).catch(() => undefined);
      }
    } catch {
      // closed
    }
  }
}

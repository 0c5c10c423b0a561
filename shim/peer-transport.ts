/**
 * How the core talks to peer nodes, without knowing how: the process wiring gives it an
 * implementation (HTTP, in server/http/peer-transport.ts). The core batches and decides what
 * to send; the transport only carries it.
 */
import type { CommitRecord } from '../adapters/contract.js';

export interface PeerTransport {
  /** Sends commit records to one peer (best effort: a lost push costs only latency). */
  pushCommits(peerUrl: string, records: readonly CommitRecord[]): Promise<void>;
  /**
   * The least time between two pushes a peer asked for (an idle peer asks to be woken less
   * often); 0, or absent, when it asked for none.
   */
  paceOf?(peerUrl: string): number;
  /** The node id a peer answers with, or undefined when it does not answer in time. */
  probe(peerUrl: string, timeoutMs: number): Promise<string | undefined>;
}

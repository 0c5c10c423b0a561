/**
 * The core's PeerTransport over HTTP: commit pushes to the peer route and "who are you"
 * probes, each with the peer credential (docs/protocol.md, "Pushed records").
 */
import type { CommitRecord } from '../../adapters/contract.js';
import type { PeerTransport } from '../../shim/peer-transport.js';
import { PATHS } from '../../wire/api.js';

export interface HttpPeerTransportOptions {
  /** The peer credential; undefined while it is not known yet (nothing is sent then). */
  readonly token: () => string | undefined;
  /** @default 2000 */
  readonly pushTimeoutMs?: number;
}

export function httpPeerTransport(options: HttpPeerTransportOptions): PeerTransport {
  const url = (peerUrl: string, path: string) => `${peerUrl.replace(/\/$/, '')}${path}`;
  return {
    async pushCommits(peerUrl, records: readonly CommitRecord[]) {
      const token = options.token();
      if (token === undefined) return;
      const answer = await fetch(url(peerUrl, PATHS.pushCommits), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ records }),
        signal: AbortSignal.timeout(options.pushTimeoutMs ?? 2000),
      });
      await answer.body?.cancel();
    },
    async probe(peerUrl, timeoutMs) {
      const token = options.token();
      const response = await fetch(url(peerUrl, PATHS.node), {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) {
        await response.body?.cancel();
        return undefined;
      }
      const { nodeId } = (await response.json()) as { nodeId?: unknown };
      return typeof nodeId === 'string' ? nodeId : undefined;
    },
  };
}

/**
 * The core's PeerTransport over HTTP: commit pushes to the peer route and "who are you"
 * probes, each with the peer credential (docs/protocol.md, "Pushed records"). On node:http
 * with a keep-alive agent, as the client (lambda-layer/transport.ts): global fetch cost a node
 * its Request, Response, stream and AbortSignal objects on every push to every peer.
 */
import type { CommitRecord } from '../../adapters/contract.js';
import { nodeHttpTransport } from '../../lambda-layer/transport.js';
import type { PeerTransport } from '../../shim/peer-transport.js';
import { PATHS } from '../../wire/api.js';

export interface HttpPeerTransportOptions {
  /** The peer credential; undefined while it is not known yet (nothing is sent then). */
  readonly token: () => string | undefined;
  /** @default 2000 */
  readonly pushTimeoutMs?: number;
}

export function httpPeerTransport(options: HttpPeerTransportOptions): PeerTransport {
  const send = nodeHttpTransport();
  const url = (peerUrl: string, path: string) => `${peerUrl.replace(/\/$/, '')}${path}`;
  return {
    async pushCommits(peerUrl, records: readonly CommitRecord[]) {
      const token = options.token();
      if (token === undefined) return;
      const answer = await send({
        method: 'POST',
        url: url(peerUrl, PATHS.pushCommits),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ records }),
        timeoutMs: options.pushTimeoutMs ?? 2000,
        signal: undefined,
      });
      if (answer.status !== 200) throw new Error(`the peer answered ${answer.status} to a push`);
    },
    async probe(peerUrl, timeoutMs) {
      const token = options.token();
      const answer = await send({
        method: 'GET',
        url: url(peerUrl, PATHS.node),
        headers: token ? { authorization: `Bearer ${token}` } : {},
        body: undefined,
        timeoutMs,
        signal: undefined,
      });
      if (answer.status < 200 || answer.status >= 300) return undefined;
      const { nodeId } = JSON.parse(answer.body.toString('utf8')) as { nodeId?: unknown };
      return typeof nodeId === 'string' ? nodeId : undefined;
    },
  };
}

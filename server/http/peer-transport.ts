/**
 * The core's PeerTransport over HTTP: commit pushes and "who are you" probes, each with the
 * peer credential (docs/protocol.md, "Pushed records"). A push goes on the peer's commit
 * stream (./peer-streams.ts) once one is open; until then, or where the peer takes no
 * streams, as a request to the push route. Requests go on node:http with a keep-alive agent,
 * as the client's (lambda-layer/transport.ts): global fetch cost a node its Request,
 * Response, stream and AbortSignal objects on every push to every peer.
 */
import type { CommitRecord } from '../../adapters/contract.js';
import { nodeHttpTransport } from '../../lambda-layer/transport.js';
import type { PeerTransport } from '../../shim/peer-transport.js';
import type { NodeLogger } from '../../shim/telemetry.js';
import { PATHS } from '../../wire/api.js';
import { encodeCommitBatch } from './commit-stream.js';
import { PeerStreams, type PeerStreamsOptions } from './peer-streams.js';

export interface HttpPeerTransportOptions {
  /** The peer credential; undefined while it is not known yet (nothing is sent then). */
  readonly token: () => string | undefined;
  /** @default 2000 */
  readonly pushTimeoutMs?: number;
  /** Commit streams' settings; `false` pushes every batch as a request. */
  readonly streams?: Omit<PeerStreamsOptions, 'token' | 'logger'> | false;
  readonly logger?: NodeLogger;
}

export interface HttpPeerTransport extends PeerTransport {
  /** Peers with a commit stream open now. */
  readonly openStreams: number;
  /** Closes the commit streams (shutdown). */
  close(): void;
}

export function httpPeerTransport(options: HttpPeerTransportOptions): HttpPeerTransport {
  const send = nodeHttpTransport();
  const url = (peerUrl: string, path: string) => `${peerUrl.replace(/\/$/, '')}${path}`;
  const streams =
    options.streams === false
      ? undefined
      : new PeerStreams({
          ...options.streams,
          token: options.token,
          ...(options.logger && { logger: options.logger }),
        });
  // Every peer gets the same batch: encoded once.
  let encoded: { records: readonly CommitRecord[]; line: string } | undefined;
  const lineOf = (records: readonly CommitRecord[]) => {
    if (encoded?.records !== records) encoded = { records, line: encodeCommitBatch(records) };
    return encoded.line;
  };
  return {
    get openStreams() {
      return streams?.openCount ?? 0;
    },
    close() {
      streams?.close();
    },
    async pushCommits(peerUrl, records: readonly CommitRecord[]) {
      const token = options.token();
      if (token === undefined) return;
      if (streams && streams.send(peerUrl, lineOf(records)) !== 'no-stream') return;
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
    paceOf(peerUrl) {
      return streams?.paceOf(peerUrl) ?? 0;
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

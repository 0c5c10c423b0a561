/**
 * Forwarding (protocol.md §7): a transaction is owned by the node that began it (its txid
 * names the node). A request for it that reaches another node is sent on to the owner and
 * the owner's answer is passed back, so a load balancer may spread one transaction's
 * requests over every node. A forwarded request is never forwarded again.
 *
 * An owner that is dead is answered for by this node, from memory or storage (a committed
 * transaction answers committed; one still in its commit is marked aborted, then it is lost:
 * 410 TXN_LOST, retryable). An owner that is live but does not answer may still commit: a
 * commit or status request gets only an outcome storage has decided, else 503 NOT_READY,
 * retryable, so the client repeats it rather than running its function again; any other
 * request of the transaction is lost (its client starts over and never commits it).
 */
import type { NextFunction, Request, Response } from 'express';
import { NotReadyError, TransactionLostError, TransactionNotRunningError } from '../../shim/errors.js';
import { ownerOfTxid } from '../../shim/ids.js';
import type { DecidedOutcome } from '../../shim/node.js';
import { sendError } from './errors.js';

export const FORWARDED_HEADER = 'aft-forwarded-by';

export interface ForwardingOptions {
  readonly nodeId: string;
  /** The URL of a live node, or undefined when it is dead or unknown. */
  readonly urlOf: (nodeId: string) => string | undefined;
  /**
   * Reads the member list again unless it was just read: an owner this node does not know
   * may have joined since its last listing (an idle node lists only every few heartbeats).
   */
  readonly refreshMembers?: () => Promise<void>;
  /** How long the owner may take to answer. @default 60000 */
  readonly timeoutMs?: number;
  /** The outcome of a transaction when storage has decided it, else undefined. */
  readonly decidedOutcome?: (txid: string) => Promise<DecidedOutcome | undefined>;
}

const TRANSACTION_PATH = /^\/v1\/transactions\/([^/]+)(\/.*)?$/;
/** Headers that describe the request or answer itself, copied across the hop. */
const REQUEST_HEADERS = ['authorization', 'content-type', 'accept'] as const;
const ANSWER_HEADERS = ['content-type', 'aft-version', 'retry-after'] as const;

export function forwardToOwner(options: ForwardingOptions) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const match = TRANSACTION_PATH.exec(req.path);
    const txid = match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
    const owner = txid === undefined ? undefined : ownerOfTxid(txid);
    if (owner === undefined || owner === options.nodeId || req.headers[FORWARDED_HEADER] !== undefined) {
      next();
      return;
    }
    let ownerUrl = options.urlOf(owner);
    if (ownerUrl === undefined && options.refreshMembers) {
      await options.refreshMembers().catch(() => undefined);
      ownerUrl = options.urlOf(owner);
    }
    // A dead owner's committed transactions are still known here; the node answers those.
    if (ownerUrl === undefined) {
      next();
      return;
    }
    const headers = new Headers({ [FORWARDED_HEADER]: options.nodeId });
    for (const name of REQUEST_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string') headers.set(name, value);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      const answer = await fetch(`${ownerUrl.replace(/\/$/, '')}${req.originalUrl}`, {
        method: req.method,
        headers,
        ...(chunks.length > 0 && { body: Buffer.concat(chunks) }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
      });
      res.status(answer.status);
      for (const name of ANSWER_HEADERS) {
        const value = answer.headers.get(name);
        if (value !== null) res.set(name, value);
      }
      res.send(Buffer.from(await answer.arrayBuffer()));
    } catch (error) {
      const why = `transaction ${txid} is owned by node ${owner}, which did not answer: ${(error as Error).message}`;
      const isCommit = req.method === 'POST' && match?.[2] === '/commit';
      const isStatus = req.method === 'GET' && match?.[2] === undefined;
      // The owner is live (not counted dead) but did not answer. A commit or status request
      // asks for an outcome, which only storage may decide while the owner may still commit.
      const outcome = await options.decidedOutcome?.(txid!).catch(() => undefined);
      if (outcome?.status === 'committed') {
        if (isStatus) res.json({ txid, status: 'committed' });
        else if (isCommit) res.json({ txid, status: 'committed', version: outcome.version });
        else sendError(res, new TransactionNotRunningError(txid!, 'committed'));
      } else if (outcome === undefined && (isCommit || isStatus)) {
        sendError(res, new NotReadyError(`${why}; its outcome is not decided yet, repeat the request`));
      } else {
        // Any other request of it is lost: its client starts over and never commits it.
        sendError(res, new TransactionLostError(txid!, why));
      }
    }
  };
}

/**
 * Bearer-token auth. Tokens are compared in constant time: both sides are hashed to
 * equal-length digests and every accepted token is checked, so timing reveals neither a
 * token's prefix nor which token matched.
 *
 * Two credentials: client tokens for the REST API, peer tokens for the routes only nodes call
 * (docs/protocol.md, "Pushed records"). A route may accept either.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { type AftError, ForbiddenError, NotReadyError, UnauthorizedError } from '../../shim/errors.js';

/**
 * The tokens a route accepts: a fixed list, or one known only later (the peer secret is read
 * from storage at start-up; until then the route answers NOT_READY).
 */
export type AcceptedTokens = readonly string[] | (() => readonly string[] | undefined);

/** Express middleware over `bearerCheck`. */
export function bearerAuth(...accepted: readonly AcceptedTokens[]): RequestHandler {
  const check = bearerCheck(...accepted);
  return (req, _res, next) => next(check(req.headers.authorization));
}

/**
 * The check itself, whichever front asks: the error to answer a request whose Authorization
 * header is `header`, or undefined when one of the accepted tokens matches.
 */
export function bearerCheck(
  ...accepted: readonly AcceptedTokens[]
): (header: string | undefined) => AftError | undefined {
  const digestsOf = new Map<string, Buffer>();
  const digestOf = (token: string): Buffer => {
    let known = digestsOf.get(token);
    if (!known) {
      known = digest(token);
      digestsOf.set(token, known);
    }
    return known;
  };
  return (header) => {
    const lists = accepted.map((tokens) => (typeof tokens === 'function' ? tokens() : tokens));
    const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) return new UnauthorizedError();
    const offered = digest(match[1]!);
    let isAccepted = false;
    for (const tokens of lists) {
      for (const candidate of tokens ?? [])
        isAccepted = timingSafeEqual(digestOf(candidate), offered) || isAccepted;
    }
    if (!isAccepted && lists.some((tokens) => tokens === undefined)) {
      return new NotReadyError('this node has not loaded the peer credential yet');
    }
    return isAccepted ? undefined : new ForbiddenError();
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

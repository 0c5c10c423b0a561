/**
 * Optional bearer-token auth. Tokens are compared in constant time: both sides are hashed to
 * equal-length digests and every configured token is checked, so timing reveals neither a
 * token's prefix nor which token matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ForbiddenError, UnauthorizedError } from '../errors.js';

export function bearerAuth(tokens: readonly string[]): RequestHandler {
  const digests = tokens.map(digest);
  return (req, _res, next) => {
    const header = req.get('authorization');
    const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) {
      next(new UnauthorizedError());
      return;
    }
    const offered = digest(match[1]!);
    let accepted = false;
    for (const candidate of digests) accepted = timingSafeEqual(candidate, offered) || accepted;
    next(accepted ? undefined : new ForbiddenError());
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

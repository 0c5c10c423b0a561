/**
 * How AftClient sends one HTTP request. By default on node:http(s) with a keep-alive agent:
 * one timer per request, and an abort listener only when the caller passed a signal (global
 * fetch spent most of the client's CPU on Request, Response, Headers and web-stream objects
 * and on composing AbortSignals per request). A `fetch` the user passes is used instead.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface RawAnswer {
  readonly status: number;
  /** A response header, by lower-case name. */
  header(name: string): string | undefined;
  readonly body: Buffer;
}

export interface RawRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array | undefined;
  /** The request fails with a TimeoutError past this. */
  readonly timeoutMs: number;
  /** The caller's signal: its abort rejects with its reason. */
  readonly signal: AbortSignal | undefined;
}

export type Transport = (request: RawRequest) => Promise<RawAnswer>;

/** A TimeoutError as AbortSignal.timeout gives it, so callers treat both alike. */
function timeoutError(ms: number): Error {
  return Object.assign(new Error(`the request took longer than ${ms} ms`), { name: 'TimeoutError' });
}

export function nodeHttpTransport(): Transport {
  let http: HttpAgent | undefined;
  let https: HttpsAgent | undefined;
  return ({ method, url, headers, body, timeoutMs, signal }) =>
    new Promise<RawAnswer>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const secure = url.startsWith('https:');
      if (secure) https ??= new HttpsAgent({ keepAlive: true });
      else http ??= new HttpAgent({ keepAlive: true });
      const agent = secure ? https : http;
      const sized =
        body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
      const req = (secure ? httpsRequest : httpRequest)(url, { method, headers: sized, agent });
      let settled = false;
      const onAbort = () => req.destroy(signal!.reason);
      const timer = setTimeout(() => req.destroy(timeoutError(timeoutMs)), timeoutMs);
      const settle = (error: unknown, answer?: RawAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (answer) resolve(answer);
        else reject(error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (error) => settle(error));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => settle(error));
        res.on('end', () => {
          const received: IncomingHttpHeaders = res.headers;
          settle(undefined, {
            status: res.statusCode ?? 0,
            header: (name) => {
              const value = received[name];
              return Array.isArray(value) ? value.join(', ') : value;
            },
            body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
          });
        });
      });
      req.end(body);
    });
}

/** A transport on a fetch implementation (the user's own, e.g. with a custom dispatcher). */
export function fetchTransport(fetchImpl: typeof fetch): Transport {
  return async ({ method, url, headers, body, timeoutMs, signal }) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const response = await fetchImpl(url, {
      method,
      headers,
      body,
      signal: signal ? AbortSignal.any([deadline, signal]) : deadline,
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    return {
      status: response.status,
      header: (name) => response.headers.get(name) ?? undefined,
      body: bytes,
    };
  };
}

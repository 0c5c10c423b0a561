/** Plain REST calls against any node, so a test can spread one transaction over several nodes. */
import { eventually } from '../helpers/eventually.js';

export interface ReadItem {
  readonly key: string;
  readonly value: string | null;
  readonly version: string | null;
}

export class RestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(`${status} ${code}`);
  }
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const answer = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await answer.text();
  const json = text ? (JSON.parse(text) as unknown) : undefined;
  if (!answer.ok) {
    throw new RestError(
      answer.status,
      (json as { error?: { code?: string } } | undefined)?.error?.code ?? '',
    );
  }
  return json;
}

export const rest = {
  begin: async (url: string): Promise<string> =>
    ((await call(url, 'POST', '/v1/transactions', {})) as { txid: string }).txid,
  read: async (url: string, txid: string, keys: readonly string[]): Promise<ReadItem[]> => {
    const { items } = (await call(url, 'POST', `/v1/transactions/${txid}/read`, { keys })) as {
      items: { key: string; value: string | null; version: string | null }[];
    };
    return items.map((item) => ({
      key: item.key,
      value: item.value === null ? null : Buffer.from(item.value, 'base64').toString(),
      version: item.version,
    }));
  },
  write: async (
    url: string,
    txid: string,
    items: readonly { key: string; value: string }[],
  ): Promise<void> => {
    await call(url, 'POST', `/v1/transactions/${txid}/write`, {
      items: items.map(({ key, value }) => ({ key, value: Buffer.from(value).toString('base64') })),
    });
  },
  commit: async (url: string, txid: string): Promise<string | null> =>
    ((await call(url, 'POST', `/v1/transactions/${txid}/commit`)) as { version: string | null }).version,
  abort: async (url: string, txid: string): Promise<void> => {
    await call(url, 'POST', `/v1/transactions/${txid}/abort`);
  },
  status: async (url: string, txid: string): Promise<string> =>
    ((await call(url, 'GET', `/v1/transactions/${txid}`)) as { status: string }).status,
};

/**
 * Resolves once every node routes every other node's transactions, i.e. the nodes have met
 * through their heartbeats in storage (a node that does not know a transaction's owner
 * answers 410 TXN_LOST). Throws if they have not met within `timeoutMs`.
 */
export async function untilAcquainted(urls: readonly string[], timeoutMs = 20_000): Promise<void> {
  for (const owner of urls) {
    const txid = await rest.begin(owner);
    for (const other of urls.filter((url) => url !== owner)) {
      const status = await eventually(
        () => rest.status(other, txid).catch((error: unknown) => error),
        (answer) => answer === 'running',
        { timeoutMs, everyMs: 50 },
      );
      if (status !== 'running') throw new Error(`${other} does not route ${owner}'s transactions: ${status}`);
    }
    await rest.abort(owner, txid);
  }
}

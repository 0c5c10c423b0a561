/** A small fetch wrapper for HTTP tests against a real listening shim. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly bytes: Uint8Array;
  readonly json: unknown;
}

export function httpClient(baseUrl: string, defaultHeaders: Record<string, string> = {}) {
  return async (
    method: string,
    path: string,
    options: { json?: unknown; raw?: string | Uint8Array; headers?: Record<string, string> } = {},
  ): Promise<HttpAnswer> => {
    const headers: Record<string, string> = { ...defaultHeaders, ...options.headers };
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      body = typeof options.json === 'string' ? options.json : JSON.stringify(options.json);
      headers['content-type'] ??= 'application/json';
    } else if (options.raw !== undefined) {
      body = options.raw;
      headers['content-type'] ??= 'application/octet-stream';
    }
    const response = await fetch(baseUrl + path, { method, headers, body });
    const bytes = new Uint8Array(await response.arrayBuffer());
    let json: unknown;
    if (response.headers.get('content-type')?.includes('json'))
      json = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return { status: response.status, headers: response.headers, bytes, json };
  };
}

export function errorCodeOf(answer: HttpAnswer): string | undefined {
  return (answer.json as { error?: { code?: string } } | undefined)?.error?.code;
}

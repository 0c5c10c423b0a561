/**
 * The OpenAPI 3.1 document of the REST API, served at GET /v1/openapi.json. Request bodies
 * are validated against the schemas under `components.schemas` (see validation.ts), so the
 * document and the server cannot drift apart.
 *
 * Over 400 lines: it is one document (data, not logic), served as it is at /v1/openapi.json.
 */

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const txidParameter = {
  name: 'txid',
  in: 'path',
  required: true,
  description: 'The id begin returned.',
  schema: { type: 'string' },
} as const;

const keyParameter = {
  name: 'key',
  in: 'path',
  required: true,
  description:
    'The key, URL-encoded (UTF-8, 1..1024 bytes). An unencoded `/` is taken literally, so `a/b` and `a%2Fb` name the same key.',
  schema: { type: 'string' },
} as const;

const common = {
  '400': errorResponse('BAD_REQUEST: malformed input'),
  '401': errorResponse('UNAUTHORIZED: no bearer token (auth on)'),
  '403': errorResponse('FORBIDDEN: wrong bearer token (auth on)'),
  '404': errorResponse('TXN_NOT_FOUND'),
  '410': errorResponse('TXN_LOST: the owning node is gone; retry the whole function'),
  '503': errorResponse('STORAGE_UNAVAILABLE, NOT_READY or SHUTTING_DOWN; retryable'),
};
const notRunning = { '409': errorResponse('TXN_NOT_RUNNING: the transaction committed or aborted') };

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'aft REST transaction API',
    version: '1.0.0',
    description:
      'Read-atomic transactions over a storage engine. Values in JSON are base64 strings; single-key routes carry raw bytes.',
  },
  servers: [{ url: '/' }],
  security: [{}, { bearer: [] }],
  paths: {
    '/v1/transactions': {
      post: {
        operationId: 'begin',
        summary: 'Begin a transaction',
        requestBody: {
          required: false,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/BeginRequest' } } },
        },
        responses: {
          '200': {
            description:
              'Not begun: a transaction with this idempotencyKey already committed; its txid and recorded result',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/ReplayResponse' } } },
          },
          '201': {
            description: 'Begun',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/BeginResponse' } } },
          },
          '400': common['400'],
          '409': errorResponse(
            'DUPLICATE_IN_PROGRESS: a transaction with this idempotencyKey is committing; retryable',
          ),
          '401': common['401'],
          '403': common['403'],
          '429': errorResponse('TOO_MANY_TRANSACTIONS: the node runs its limit of transactions; retryable'),
          '503': common['503'],
        },
      },
    },
    '/v1/transactions/{txid}': {
      get: {
        operationId: 'status',
        summary: "A transaction's status",
        parameters: [txidParameter],
        responses: {
          '200': {
            description: 'Status',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/TransactionStatus' } } },
          },
          ...common,
        },
      },
    },
    '/v1/transactions/{txid}/keys/{key}': {
      get: {
        operationId: 'get',
        summary: 'Read one key',
        parameters: [txidParameter, keyParameter],
        responses: {
          '200': {
            description:
              'The value; header Aft-Version names the version read (absent for a buffered write).',
            headers: { 'Aft-Version': { schema: { type: 'string' } } },
            content: {
              'application/octet-stream': { schema: { type: 'string', contentEncoding: 'binary' } },
            },
          },
          ...common,
          '404': errorResponse('TXN_NOT_FOUND, or KEY_NOT_FOUND when no version is visible'),
          ...notRunning,
        },
      },
      put: {
        operationId: 'put',
        summary: 'Buffer a write of one key',
        parameters: [txidParameter, keyParameter],
        requestBody: {
          required: true,
          content: { 'application/octet-stream': { schema: { type: 'string', contentEncoding: 'binary' } } },
        },
        responses: {
          '204': { description: 'Buffered' },
          ...common,
          ...notRunning,
          '413': errorResponse('TOO_LARGE'),
        },
      },
      delete: {
        operationId: 'delete',
        summary: 'Buffer a delete (tombstone) of one key',
        parameters: [txidParameter, keyParameter],
        responses: {
          '204': { description: 'Buffered' },
          ...common,
          ...notRunning,
          '413': errorResponse('TOO_LARGE'),
        },
      },
    },
    '/v1/transactions/{txid}/read': {
      post: {
        operationId: 'read',
        summary: 'Read several keys',
        parameters: [txidParameter],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ReadRequest' } } },
        },
        responses: {
          '200': {
            description: 'One item per requested key, in request order',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/ReadResponse' } } },
          },
          ...common,
          ...notRunning,
          '413': errorResponse('TOO_LARGE'),
        },
      },
    },
    '/v1/transactions/{txid}/write': {
      post: {
        operationId: 'write',
        summary: 'Buffer several writes; null deletes',
        parameters: [txidParameter],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/WriteRequest' } } },
        },
        responses: {
          '204': { description: 'Buffered' },
          ...common,
          ...notRunning,
          '413': errorResponse('TOO_LARGE'),
        },
      },
    },
    '/v1/transactions/{txid}/commit': {
      post: {
        operationId: 'commit',
        summary: 'Commit; repeating it returns the same answer',
        parameters: [txidParameter],
        requestBody: {
          required: false,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/CommitRequest' } } },
        },
        responses: {
          '200': {
            description: 'Committed',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/CommitResponse' } } },
          },
          ...common,
          '409': errorResponse(
            'TXN_NOT_RUNNING (the transaction aborted), DUPLICATE_COMMITTED (another transaction with its idempotencyKey committed: begin again with the key for its result) or DUPLICATE_IN_PROGRESS (one is committing; retryable)',
          ),
          '413': errorResponse('TOO_LARGE: the result is over maxResultBytes'),
        },
      },
    },
    '/v1/transactions/{txid}/abort': {
      post: {
        operationId: 'abort',
        summary: 'Abort; nothing the transaction wrote becomes visible',
        parameters: [txidParameter],
        responses: {
          '200': {
            description: 'Aborted',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/AbortResponse' } } },
          },
          ...common,
          ...notRunning,
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'healthz',
        security: [{}],
        summary: 'Alive',
        responses: { '200': { description: 'Alive' } },
      },
    },
    '/readyz': {
      get: {
        operationId: 'readyz',
        security: [{}],
        summary: 'Ready: metadata loaded, not shutting down',
        responses: { '200': { description: 'Ready' }, '503': errorResponse('NOT_READY or SHUTTING_DOWN') },
      },
    },
    '/v1/node': {
      get: {
        operationId: 'node',
        summary:
          'This node: its id, readiness, advertised URL, metadata counts (asked by peers), and `members`: every node in its latest listing of the membership, itself included (nodeId, url, self, state live or dead, seq, heartbeatAtMs, lowWaterMs, unchangedForMs, and fenced with its reason when the member fences itself)',
        responses: { '200': { description: 'This node', content: { 'application/json': {} } }, ...common },
      },
    },
    '/v1/internal/commits': {
      post: {
        operationId: 'pushCommits',
        summary:
          "A peer's commit records, pushed right after its commits. Needs the peer credential (--peer-tokens, or the secret the nodes share in storage); a client token is refused",
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/PushCommitsRequest' } } },
        },
        responses: {
          '200': {
            description: 'How many were new here, and how many were refused (each is logged)',
            content: { 'application/json': {} },
          },
          ...common,
        },
      },
    },
    '/v1/internal/commit-stream': {
      get: {
        operationId: 'commitStream',
        summary:
          "A peer's commit stream: upgrades (Connection: Upgrade, Upgrade: aft-commits/1) to a connection on which the peer writes one JSON line per batch, an array of [versionId, writeSet, deleted?], and this node writes nothing. The peer credential, checked once, at the upgrade; `aft serve` only (an app mounted by a user takes pushes by POST /v1/internal/commits)",
        responses: {
          '101': { description: 'Switched to aft-commits/1' },
          ...common,
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': {} } } },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Key: { type: 'string', minLength: 1, description: 'UTF-8, 1..1024 bytes' },
      Base64: {
        type: 'string',
        contentEncoding: 'base64',
        description: 'Standard base64 with padding',
      },
      BeginRequest: {
        type: 'object',
        properties: {
          timeoutMs: { type: 'integer', minimum: 1, description: 'Idle timeout of this transaction' },
          isolation: {
            type: 'string',
            enum: ['read-atomic', 'serializable'],
            description:
              'read-atomic (the default), or serializable: the commit validates every key read, and answers 409 CONFLICT (retryable) when another serializable commit changed one',
          },
          idempotencyKey: {
            type: 'string',
            minLength: 1,
            description:
              'Commit only if no other transaction with this key committed within its time-to-live; when one did, begin answers 200 with its result instead',
          },
          read: {
            type: 'array',
            items: { $ref: '#/components/schemas/Key' },
            description: 'Keys to read at once, as a batch read would; the answer carries them as items',
          },
        },
      },
      BeginResponse: {
        type: 'object',
        required: ['txid'],
        properties: {
          txid: { type: 'string' },
          items: { $ref: '#/components/schemas/ReadResponse/properties/items' },
        },
      },
      ReplayResponse: {
        type: 'object',
        required: ['txid', 'status', 'version', 'result', 'replayed'],
        properties: {
          txid: { type: 'string', description: 'The transaction that committed with the key' },
          status: { const: 'committed' },
          version: { type: ['string', 'null'] },
          result: {
            oneOf: [{ $ref: '#/components/schemas/Base64' }, { type: 'null' }],
            description: 'The result its commit recorded',
          },
          replayed: { const: true },
        },
      },
      CommitRequest: {
        type: 'object',
        properties: {
          result: {
            oneOf: [{ $ref: '#/components/schemas/Base64' }, { type: 'null' }],
            description:
              'Recorded with the idempotency key in the same atomic commit, and returned by a later begin with that key',
          },
          items: {
            $ref: '#/components/schemas/WriteRequest/properties/items',
            description:
              'Writes buffered before the commit, as a batch write takes them; they commit with it',
          },
        },
      },
      TransactionStatus: {
        type: 'object',
        required: ['txid', 'status'],
        properties: { txid: { type: 'string' }, status: { enum: ['running', 'committed', 'aborted'] } },
      },
      ReadRequest: {
        type: 'object',
        required: ['keys'],
        properties: { keys: { type: 'array', items: { $ref: '#/components/schemas/Key' } } },
      },
      ReadResponse: {
        type: 'object',
        required: ['items'],
        properties: {
          items: {
            type: 'array',
            items: {
              type: 'object',
              required: ['key', 'value', 'version'],
              properties: {
                key: { type: 'string' },
                value: { oneOf: [{ $ref: '#/components/schemas/Base64' }, { type: 'null' }] },
                version: {
                  type: ['string', 'null'],
                  description: 'null when nothing is visible or the value is buffered',
                },
              },
            },
          },
        },
      },
      WriteRequest: {
        type: 'object',
        required: ['items'],
        properties: {
          items: {
            type: 'array',
            items: {
              type: 'object',
              required: ['key', 'value'],
              properties: {
                key: { $ref: '#/components/schemas/Key' },
                value: { oneOf: [{ $ref: '#/components/schemas/Base64' }, { type: 'null' }] },
              },
            },
          },
        },
      },
      CommitResponse: {
        type: 'object',
        required: ['txid', 'status', 'version'],
        properties: {
          txid: { type: 'string' },
          status: { const: 'committed' },
          version: { type: ['string', 'null'], description: 'null for a read-only transaction' },
        },
      },
      AbortResponse: {
        type: 'object',
        required: ['txid', 'status'],
        properties: { txid: { type: 'string' }, status: { const: 'aborted' } },
      },
      CommitRecord: {
        type: 'object',
        required: ['versionId', 'txid', 'writeSet', 'deleted'],
        properties: {
          versionId: { type: 'string', pattern: '^[0-9A-Za-z._-]{1,128}$' },
          txid: { type: 'string' },
          writeSet: { type: 'array', items: { type: 'string' } },
          deleted: { type: 'array', items: { type: 'string' } },
        },
      },
      PushCommitsRequest: {
        type: 'object',
        required: ['records'],
        properties: { records: { type: 'array', items: { $ref: '#/components/schemas/CommitRecord' } } },
      },
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message', 'retryable'],
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              retryable: { type: 'boolean' },
              details: {
                type: 'object',
                additionalProperties: { type: 'string' },
                description:
                  'What the error names, by field: txid and status (TXN_NOT_RUNNING), txid (TXN_NOT_FOUND, TXN_LOST), key (KEY_NOT_FOUND), idempotencyKey with committedTxid or otherTxid (DUPLICATE_*), versionId or claim (STORAGE_UNAVAILABLE, not retryable: a commit record or a serializable claim storage holds but cannot be read)',
              },
            },
          },
        },
      },
    },
  },
} as const;

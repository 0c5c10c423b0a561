/**
 * What an operator sees of a running node: GET /v1/node lists the members it knows, and the
 * access log writes one line per request, from either front, at the level chosen.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningShim, startShim } from '../../server/start.js';
import type { NodeLogger } from '../../shim/telemetry.js';
import { eventually } from '../helpers/eventually.js';

interface Line {
  readonly level: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

function capturingLogger(): { logger: NodeLogger; lines: Line[] } {
  const lines: Line[] = [];
  const logger = Object.fromEntries(
    (['trace', 'debug', 'info', 'warn', 'error'] as const).map((level) => [
      level,
      (fields: Record<string, unknown>, message = '') => lines.push({ level, message, fields }),
    ]),
  ) as unknown as NodeLogger;
  return { logger, lines };
}

let nodes: RunningShim[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((node) => node.close()));
  nodes = [];
});

describe('GET /v1/node', () => {
  it('lists the members this node knows, itself included, with their URLs and state', async () => {
    const storage = `file:${mkdtempSync(join(tmpdir(), 'aft-node-view-'))}?fsync=false`;
    nodes = [
      await startShim({ port: 0, storage, env: {}, heartbeatMs: 50, deadAfterMs: 1000 }),
      await startShim({ port: 0, storage, env: {}, heartbeatMs: 50, deadAfterMs: 1000 }),
    ];
    await Promise.all(nodes.map((node) => node.ready));
    const [a, b] = nodes as [RunningShim, RunningShim];
    const view = await eventually(
      async () =>
        (await (await fetch(`${a.url}/v1/node`)).json()) as {
          nodeId: string;
          members: { nodeId: string; url: string; self: boolean; state: string; heartbeatAtMs: number }[];
        },
      (body) => body.members.length === 2,
      { timeoutMs: 5000 },
    );
    expect(view.nodeId).toBe(a.node.nodeId);
    const byId = new Map(view.members.map((member) => [member.nodeId, member]));
    expect(byId.get(a.node.nodeId)).toMatchObject({ url: a.url, self: true, state: 'live' });
    expect(byId.get(b.node.nodeId)).toMatchObject({ url: b.url, self: false, state: 'live' });
    expect(byId.get(b.node.nodeId)!.heartbeatAtMs).toBeGreaterThan(Date.now() - 60_000);
  });
});

describe('the access log', () => {
  it.each(['direct', 'express'] as const)(
    'writes method, route, status, txid and duration per request at the chosen level (%s front)',
    async (httpFront) => {
      const { logger, lines } = capturingLogger();
      const node = await startShim({
        port: 0,
        storage: 'memory:',
        env: {},
        logger,
        accessLogLevel: 'info',
        httpFront,
      });
      nodes = [node];
      await node.ready;
      const begun = (await (await fetch(`${node.url}/v1/transactions`, { method: 'POST' })).json()) as {
        txid: string;
      };
      await fetch(`${node.url}/v1/transactions/${begun.txid}/keys/secret%2Fkey`, {
        method: 'PUT',
        body: 'v',
      });
      await fetch(`${node.url}/v1/transactions/${begun.txid}/commit`, { method: 'POST' });
      await fetch(`${node.url}/healthz`);
      await fetch(`${node.url}/no/such/route`);
      const requests = await eventually(
        () => lines.filter((line) => line.message === 'request'),
        (found) => found.length >= 5,
        { timeoutMs: 2000 },
      );
      expect(requests.every((line) => line.level === 'info')).toBe(true);
      expect(
        requests.map(({ fields: { method, route, status, txid } }) => ({ method, route, status, txid })),
      ).toEqual([
        { method: 'POST', route: '/v1/transactions', status: 201, txid: undefined },
        { method: 'PUT', route: '/v1/transactions/:txid/keys/*key', status: 204, txid: begun.txid },
        { method: 'POST', route: '/v1/transactions/:txid/commit', status: 200, txid: begun.txid },
        { method: 'GET', route: '/healthz', status: 200, txid: undefined },
        { method: 'GET', route: 'unmatched', status: 404, txid: undefined },
      ]);
      for (const { fields } of requests) expect(typeof fields.ms).toBe('number');
      // Routes are patterns: no key reaches the log.
      expect(JSON.stringify(requests)).not.toContain('secret');
    },
  );

  it('writes nothing when off, the default', async () => {
    const { logger, lines } = capturingLogger();
    const node = await startShim({ port: 0, storage: 'memory:', env: {}, logger });
    nodes = [node];
    await node.ready;
    await fetch(`${node.url}/v1/transactions`, { method: 'POST' });
    await fetch(`${node.url}/healthz`);
    expect(lines.filter((line) => line.message === 'request')).toEqual([]);
  });
});

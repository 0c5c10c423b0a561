/** The line a node logs when it listens names its own pid: what `kill` needs (README, "Several nodes"). */
import { startShim } from '../../server/start.js';
import { type NodeLogger, silentLogger } from '../../shim/telemetry.js';

it("a node's listening line carries its URL, node id and pid", async () => {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const logger: NodeLogger = {
    ...silentLogger,
    info: (fields, message) =>
      lines.push({ fields: fields as Record<string, unknown>, message: message ?? '' }),
  };
  const shim = await startShim({ port: 0, storage: 'memory:', logger, env: {} });
  try {
    const listening = lines.find((line) => line.message.startsWith('listening'));
    expect(listening?.fields).toMatchObject({ url: shim.url, nodeId: shim.node.nodeId, pid: process.pid });
  } finally {
    await shim.close();
  }
});

/** Waiting for a node's commit tickets (shim/commit-tickets.ts). */
import type { ShimNode } from '../../shim/node.js';
import { eventually } from './eventually.js';

/** Resolves once `node` has a commit ticket ready; throws if none comes. */
export async function ticketsReady(node: ShimNode): Promise<void> {
  const ready = await eventually(
    () => node.stats.commitTickets,
    (count) => count > 0,
  );
  if (ready === 0) throw new Error('no commit ticket became ready');
}

/**
 * The peer credential a cluster uses when the operator sets none (docs/protocol.md, "Pushed
 * records"): a random secret the first node writes to storage, put-if-absent, and every node
 * reads back. Whoever can read it can write storage too, so it grants nothing storage does
 * not; clients of the REST API never see it.
 */
import { randomBytes } from 'node:crypto';
import type { CallOptions, StorageAdapter } from '../adapters/contract.js';

import { CLUSTER_NAMESPACE } from './namespaces.js';

const PEER_SECRET_ID = 'peer-secret';

/** The cluster's shared peer secret, created by whichever node asks first. */
export async function sharedPeerSecret(storage: StorageAdapter, options: CallOptions = {}): Promise<string> {
  const fresh = randomBytes(32).toString('base64url');
  await storage.createEntry(CLUSTER_NAMESPACE, PEER_SECRET_ID, new TextEncoder().encode(fresh), options);
  const stored = await storage.getEntry(CLUSTER_NAMESPACE, PEER_SECRET_ID, options);
  const secret = stored === undefined ? '' : new TextDecoder().decode(stored);
  // Absent right after a put-if-absent, or not a token: the store is broken or tampered with.
  if (!/^[A-Za-z0-9_-]{43}$/.test(secret)) {
    throw new Error(
      `storage (${storage.name}) holds no usable peer secret in ${CLUSTER_NAMESPACE}/${PEER_SECRET_ID}`,
    );
  }
  return secret;
}

/** `aft-shim/cdk`: the AftShim construct (needs aws-cdk-lib and constructs, peer dependencies). */
export { AftShim, type AftShimProps } from './aft-shim.js';
export { METRICS_NAMESPACE, SERVICE_DIMENSION } from './monitoring.js';
export { AftStorage, AftStorageEngine, type AftStorageProps } from './storage.js';

/**
 * The package entry (`aft-shim`): the core library (shim/index.ts) and the server around it,
 * to embed a shim node or a whole server in your own process.
 */
export * from '../shim/index.js';
export { createApp } from './http/app.js';
export { PrometheusMetrics } from './http/metrics.js';
export { type RunningShim, type StartShimOptions, startShim } from './start.js';

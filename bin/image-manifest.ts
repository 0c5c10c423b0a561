#!/usr/bin/env node
/**
 * Run by the Dockerfile inside the image being built: rewrites the package.json there so that
 * one `npm install --omit=dev` installs aft's runtime dependencies and every engine's package
 * (optional peer dependencies of the package, at the ranges it names), and nothing for
 * development. The image then serves any storage URL. It needs no lockfile: the image builds
 * from the package as npm installed it (the CDK construct builds it from node_modules/aft-shim).
 *   node dist/bin/image-manifest.js [package.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ENGINE_PACKAGES } from '../adapters/engine-packages.js';

interface Manifest {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [field: string]: unknown;
}

const file = process.argv[2] ?? 'package.json';
const manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
const dependencies = { ...manifest.dependencies };
for (const packageName of new Set(Object.values(ENGINE_PACKAGES).flat())) {
  const range = manifest.peerDependencies?.[packageName];
  if (!range) throw new Error(`${file} names no peer dependency range for ${packageName}`);
  dependencies[packageName] = range;
}
// Nothing for development, and no scripts: the package is built already.
const {
  devDependencies: _dev,
  peerDependencies: _peer,
  peerDependenciesMeta: _meta,
  scripts: _scripts,
  ...rest
} = manifest;
writeFileSync(file, `${JSON.stringify({ ...rest, dependencies }, null, 2)}\n`);

#!/usr/bin/env node
/**
 * `npm run build:layer`: writes the Lambda layer zip and reports its size.
 *   node dist/bin/build-layer.js [--out dist/layer/aft-lambda-layer.zip]
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildLayer } from '../lambda-layer/layer-package.js';

const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: { out: { type: 'string', default: join(packageRoot, 'dist', 'layer', 'aft-lambda-layer.zip') } },
});
const report = await buildLayer({ packageRoot, outputFile: values.out });
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
process.stdout.write(
  `aft layer: ${report.outputFile}\n` +
    `  ${report.files} files, ${kib(report.bytes)} zipped, ${kib(report.unpackedBytes)} unpacked\n` +
    `  npm packages bundled: ${report.dependencies.length > 0 ? report.dependencies.join(', ') : 'none'}; ` +
    '@aws-sdk/* is left to the Lambda runtime\n',
);

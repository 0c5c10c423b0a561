#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { runCli } from '../shim/cli.js';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
await runCli(process.argv, packageJson.version);

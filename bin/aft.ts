#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCli } from '../server/cli.js';

// aft supports Node 20 with the AWS SDK versions it installs; the SDK's notice that its
// future versions need Node 22 is not for aft's users. Set the variable to 'false' to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
await runCli(process.argv, {
  version: packageJson.version,
  packageRoot: fileURLToPath(new URL('../..', import.meta.url)),
});

/**
 * `aft-shim/lambda` and `aft-shim/client` as a project that installed the package imports
 * them: through the package's exports map, from an ES module and from CommonJS.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/processes.js';

const project = mkdtempSync(join(tmpdir(), 'aft-installed-'));
mkdirSync(join(project, 'node_modules'));
symlinkSync(ROOT, join(project, 'node_modules', 'aft-shim'), 'dir');

function run(file: string, source: string): string {
  writeFileSync(join(project, file), source);
  return execFileSync(process.execPath, [join(project, file)], { cwd: project, encoding: 'utf8' }).trim();
}

describe('the package exports', () => {
  it('an ES module imports withTransaction from aft-shim/lambda and the client from aft-shim/client', () => {
    const output = run(
      'esm.mjs',
      `import { withTransaction, AftClient as FromLambda } from 'aft-shim/lambda';
       import { AftClient } from 'aft-shim/client';
       console.log(typeof withTransaction, FromLambda === AftClient);`,
    );
    expect(output).toBe('function true');
  });

  it('a CommonJS module requires aft-shim/lambda', () => {
    const output = run(
      'cjs.cjs',
      `const { withTransaction, DeadlineExceededError } = require('aft-shim/lambda');
       console.log(typeof withTransaction, new DeadlineExceededError(5).code);`,
    );
    expect(output).toBe('function DEADLINE_EXCEEDED');
  });

  it('the server and the adapters are not part of aft-shim/lambda', () => {
    const output = run(
      'keys.mjs',
      `import * as lambda from 'aft-shim/lambda';
       console.log(['startShim', 'ShimNode', 'FileAdapter'].filter((name) => name in lambda).length);`,
    );
    expect(output).toBe('0');
  });
});

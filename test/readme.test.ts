/**
 * The README is true as a new user would try it: its set-up command installs and runs the
 * shim from a fresh copy of the repository, its curl walk-through works against it, and its
 * configuration table lists every setting.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LAMBDA_SETTINGS } from '../lambda-layer/config.js';
import { SETTINGS } from '../shim/config.js';
import { freePort, ROOT } from './helpers/processes.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const shellBlocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!.trim());

describe('README', () => {
  it('documents every setting in its configuration table', () => {
    for (const entry of SETTINGS) {
      const flag = entry.flag.split(' ')[0]!;
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${flag}\``));
      expect(row).toBeDefined();
      expect(row).toContain(`\`${entry.env}\``);
      const shown =
        (Array.isArray(entry.default) && entry.default.length === 0) || entry.default === ''
          ? 'none'
          : typeof entry.default === 'boolean'
            ? `\`${entry.default ? 'on' : 'off'}\``
            : `\`${String(entry.default)}\``;
      expect(row).toContain(shown);
    }
  });

  it('documents every Lambda layer setting in its table', () => {
    for (const entry of LAMBDA_SETTINGS) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${entry.option}\``));
      expect(row).toBeDefined();
      expect(row).toContain(`\`${entry.env}\``);
      expect(row).toContain(/^\d+$|^on$|^off$/.test(entry.default) ? `\`${entry.default}\`` : entry.default);
    }
  });

  it('gives exactly two set-up commands: run the shim, run the tests', () => {
    // npm ci: from the committed lockfile, which it refuses when package.json disagrees.
    expect(shellBlocks[0]).toBe('npm ci && npm start');
    expect(shellBlocks[1]).toBe('npm ci && npm test');
  });

  it('runs the shim from a fresh copy with its first command, and the curl walk-through works', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'aft-readme-'));
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: ROOT,
    })
      .toString()
      .split('\0')
      .filter(Boolean);
    for (const file of files) {
      try {
        mkdirSync(dirname(join(copy, file)), { recursive: true });
        copyFileSync(join(ROOT, file), join(copy, file));
      } catch (error) {
        // A file deleted in the working tree but still in the index.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    const port = await freePort();
    const shim = spawn('bash', ['-c', shellBlocks[0]!], {
      cwd: copy,
      // Install scripts off: every one belongs to a development dependency the shim does not
      // run (aws-lambda-ric's compiles libcurl and its runtime client, 3 to 7 minutes). CI's
      // own `npm ci` on its clean clone runs them; this test proves the rest, that a fresh
      // copy installs, builds and serves. Packages come from the npm cache that `npm ci` of
      // this checkout filled, without asking the registry whether they are current.
      env: {
        ...process.env,
        AFT_PORT: String(port),
        AFT_LOG_LEVEL: 'warn',
        npm_config_ignore_scripts: 'true',
        npm_config_prefer_offline: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    shim.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    shim.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    try {
      // npm ci from the npm cache, then tsc: about a minute on a loaded 2-core machine.
      const deadline = Date.now() + 240_000;
      for (;;) {
        if (shim.exitCode !== null) throw new Error(`the README command exited: ${output}`);
        const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (response) => response.status === 200,
          () => false,
        );
        if (ready) break;
        if (Date.now() > deadline) throw new Error(`the shim did not start: ${output}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const walkThrough = shellBlocks.find((block) => block.startsWith('TXID='))!;
      const result = execFileSync(
        'bash',
        ['-euo', 'pipefail', '-c', walkThrough.replaceAll('7070', String(port))],
        {
          cwd: copy,
        },
      ).toString();
      expect(result).toMatch(/"status":"committed","version":"[0-9a-f]{18}\./);
      expect(result).toContain('{"key":"holds/widget","value":"cmVzZXJ2ZWQ="');
      expect(result).toContain('{"key":"orders/42","value":"cGFpZA=="');
      // The walk-through leaves alone the keys the client examples read as numbers.
      expect(
        readme.slice(readme.indexOf('## A transaction with curl'), readme.indexOf('## The REST API')),
      ).not.toContain('stock/');
    } finally {
      if (shim.exitCode === null && shim.pid) {
        const exited = new Promise((resolve) => shim.once('exit', resolve));
        process.kill(-shim.pid, 'SIGTERM');
        await exited;
      }
      rmSync(copy, { recursive: true, force: true });
    }
  }, 300_000);
});

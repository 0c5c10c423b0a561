import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAMBDA_SETTINGS } from '../../lambda-layer/config.js';
import { ConfigError, resolveConfig, SETTINGS } from '../../shim/config.js';
import { AFT_BIN, ROOT } from '../helpers/processes.js';

describe('configuration', () => {
  it('explicit options win over AFT_* variables, which win over defaults', () => {
    expect(resolveConfig({}, {}).port).toBe(7070);
    expect(resolveConfig({}, { AFT_PORT: '8080' }).port).toBe(8080);
    expect(resolveConfig({ port: 9090 }, { AFT_PORT: '8080' }).port).toBe(9090);
    expect(resolveConfig({}, { AFT_TOKENS: ' a, b ,,' }).tokens).toEqual(['a', 'b']);
    expect(resolveConfig({}, { AFT_STORAGE: 'memory:' }).storage).toBe('memory:');
  });

  it('no AFT_* variable names two settings, of the shim or of the Lambda layer', () => {
    const variables = [...SETTINGS, ...LAMBDA_SETTINGS].map((entry) => entry.env);
    expect(variables.filter((name, index) => variables.indexOf(name) !== index)).toEqual([]);
  });

  it('rejects a malformed variable with a typed error naming it', () => {
    expect(() => resolveConfig({}, { AFT_PORT: 'http' })).toThrow(ConfigError);
    expect(() => resolveConfig({}, { AFT_MAX_KEY_BYTES: '2048' })).toThrow(/AFT_MAX_KEY_BYTES/);
    expect(() => resolveConfig({}, { AFT_LOG_LEVEL: 'loud' })).toThrow(/AFT_LOG_LEVEL/);
    expect(() => resolveConfig({ transactionTimeoutMs: 2000, maxTransactionTimeoutMs: 1000 }, {})).toThrow(
      ConfigError,
    );
  });

  it('a number out of its range, negative ones included, says the range', () => {
    expect(() => resolveConfig({}, { AFT_PORT: '-1' })).toThrow(
      /AFT_PORT="-1": expected a whole number from 0 to 65535/,
    );
    expect(() => resolveConfig({}, { AFT_PORT: '70000' })).toThrow(/expected a whole number from 0 to 65535/);
    expect(() => resolveConfig({}, { AFT_PORT: '1.5' })).toThrow(/expected a whole number from 0 to 65535/);
    expect(() => resolveConfig({}, { AFT_HEARTBEAT_MS: '-5' })).toThrow(
      /expected a whole number from 50 to 600000/,
    );
  });

  it('aft serve --help names every storage URL scheme the adapters take', () => {
    const help = execFileSync(process.execPath, [AFT_BIN, 'serve', '--help']).toString();
    const source = readFileSync(join(ROOT, 'adapters', 'url.ts'), 'utf8');
    const schemes = [...source.matchAll(/case '([a-z+]+)':/g)].map((match) => match[1]!);
    expect(schemes).toContain('anna');
    for (const scheme of schemes) expect(help).toContain(`${scheme}:`);
  });

  it('aft gc --help names the AFT_* variable of every setting it reads', () => {
    const help = execFileSync(process.execPath, [AFT_BIN, 'gc', '--help']).toString();
    for (const variable of [
      'AFT_STORAGE',
      'AFT_GC_MAX_DELETES',
      'AFT_DEAD_AFTER_MS',
      'AFT_MAX_CLOCK_SKEW_MS',
      'AFT_OUTCOME_RETENTION_MS',
      'AFT_GC_INTERVAL_MS',
    ]) {
      expect(help).toContain(variable);
    }
  });

  it('aft lambda-local --help shows its numeric defaults as numbers', () => {
    const help = execFileSync(process.execPath, [AFT_BIN, 'lambda-local', '--help']).toString();
    expect(help).toMatch(/default: 9001\)/);
    expect(help).toMatch(/default: 10\)/);
    expect(help).not.toMatch(/default: "\d+"/);
  });

  it('aft serve --help documents every option with its variable and default', () => {
    const help = execFileSync(process.execPath, [AFT_BIN, 'serve', '--help']).toString();
    for (const entry of SETTINGS) {
      expect(help).toContain(entry.flag.split(' ')[0]);
      expect(help).toContain(entry.env);
    }
    expect(execFileSync(process.execPath, [AFT_BIN, '--help']).toString()).toContain('serve');
  });

  it('aft serve exits 2 with a clear message on a bad flag or storage URL', () => {
    const badPort = spawnSync(process.execPath, [AFT_BIN, 'serve', '--port', 'x']);
    expect(badPort.status).toBe(2);
    expect(badPort.stderr.toString()).toContain('--port');
    const badStorage = spawnSync(process.execPath, [AFT_BIN, 'serve', '--port', '0', '--storage', 'ftp://x']);
    expect(badStorage.status).toBe(2);
    expect(badStorage.stderr.toString()).toContain('unsupported storage URL');
  });
});

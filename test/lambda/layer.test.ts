/**
 * The built layer zip, unpacked and used: `npm run build:layer`'s program writes it, the test
 * unpacks it as Lambda does under /opt, and `aft lambda-local --layer` runs two functions that
 * live outside this repository (so only the layer can provide aft): a plain ES module, and a
 * CommonJS bundle made by esbuild with aft and the AWS SDK marked external.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { build } from 'esbuild';
import { open as openZip, type ZipFile } from 'yauzl';
import { AftClient } from '../../lambda-layer/client.js';
import {
  type AftProcess,
  ROOT,
  startAftProcess,
  startLambdaLocalProcess,
  stopProcess,
} from '../helpers/processes.js';

const scratch = mkdtempSync(join(tmpdir(), 'aft-layer-test-'));
let zipEntries: string[] = [];
let report = '';
let shim: AftProcess;
let local: AftProcess;
let lambda: LambdaClient;

async function unzip(file: string, into: string): Promise<string[]> {
  const zip = await new Promise<ZipFile>((resolve, reject) =>
    openZip(file, { lazyEntries: true }, (error, opened) => (error ? reject(error) : resolve(opened))),
  );
  const names: string[] = [];
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: { fileName: string }) => {
      names.push(entry.fileName);
      const target = join(into, entry.fileName);
      mkdirSync(dirname(target), { recursive: true });
      zip.openReadStream(entry as never, (error, stream) => {
        if (error) return reject(error);
        pipeline(stream, createWriteStream(target)).then(() => zip.readEntry(), reject);
      });
    });
    zip.on('end', resolve).on('error', reject);
    zip.readEntry();
  });
  return names;
}

const HANDLER_SOURCE = (key: string) => `
  export const handler = withTransaction(async (event, txn) => {
    await txn.putJson(${JSON.stringify(key)}, { from: event.from });
    return { wrote: ${JSON.stringify(key)} };
  });
`;

beforeAll(async () => {
  const zipFile = join(scratch, 'aft-lambda-layer.zip');
  const built = spawnSync(process.execPath, [join(ROOT, 'dist', 'bin', 'build-layer.js'), '--out', zipFile], {
    encoding: 'utf8',
  });
  expect(built.status).toBe(0);
  report = built.stdout;
  zipEntries = await unzip(zipFile, join(scratch, 'opt'));

  const functions = join(scratch, 'functions');
  mkdirSync(join(functions, 'plain'), { recursive: true });
  writeFileSync(
    join(functions, 'plain', 'index.mjs'),
    `import { withTransaction } from 'aft-shim/lambda';\n${HANDLER_SOURCE('from-plain')}`,
  );
  mkdirSync(join(functions, 'bundled'), { recursive: true });
  writeFileSync(
    join(scratch, 'bundled-source.ts'),
    `import { withTransaction } from 'aft-shim/lambda';\n${HANDLER_SOURCE('from-bundled')}`,
  );
  await build({
    entryPoints: [join(scratch, 'bundled-source.ts')],
    outfile: join(functions, 'bundled', 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['aft-shim', '@aws-sdk/*'],
    logLevel: 'silent',
  });

  shim = await startAftProcess([], { AFT_STORAGE: `file:${join(scratch, 'data')}` });
  local = await startLambdaLocalProcess(['--functions', functions, '--layer', join(scratch, 'opt')], {
    AFT_URL: shim.url,
  });
  lambda = new LambdaClient({
    endpoint: local.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}, 60_000);

afterAll(async () => {
  lambda?.destroy();
  if (local) await stopProcess(local.child);
  if (shim) await stopProcess(shim.child);
});

describe('the Lambda layer zip', () => {
  it('holds aft under nodejs/node_modules, without the AWS SDK, and says how big it is', () => {
    expect(zipEntries).toContain('nodejs/node_modules/aft-shim/package.json');
    expect(zipEntries).toContain('nodejs/node_modules/aft-shim/dist/lambda-layer/index.js');
    expect(zipEntries.every((name) => name.startsWith('nodejs/node_modules/'))).toBe(true);
    expect(zipEntries.some((name) => name.includes('@aws-sdk'))).toBe(false);
    // Only the layer's code: nothing of the server, the adapters or the CLI.
    expect(zipEntries.some((name) => /\/dist\/(adapters|gc|bin)\//.test(name))).toBe(false);
    expect(report).toMatch(/\d+ files, [\d.]+ KiB zipped, [\d.]+ KiB unpacked/);
    expect(report).toMatch(/@aws-sdk\/\* is left to the Lambda runtime/);
  });

  it.each(['plain', 'bundled'])(
    'a %s function imports aft-shim/lambda from the layer and commits',
    async (name) => {
      const answer = await lambda.send(
        new InvokeCommand({ FunctionName: name, Payload: JSON.stringify({ from: name }) }),
      );
      const payload = JSON.parse(new TextDecoder().decode(answer.Payload)) as unknown;
      expect({ error: answer.FunctionError, payload }).toEqual({
        error: undefined,
        payload: { wrote: `from-${name}` },
      });
      const tx = await new AftClient({ url: shim.url }).begin();
      expect(await tx.getJson(`from-${name}`)).toEqual({ from: name });
      await tx.abort();
    },
  );
});

/**
 * The package as npm ships it: `npm pack`, the tarball unpacked into a new app's node_modules
 * as `npm install aft-shim aws-cdk-lib constructs` leaves it (offline: the app's other
 * packages are linked from this repository's node_modules, and no engine package is there,
 * since they are optional peers), then used the three ways a user uses it: the CDK construct
 * synthesizes, the client imports, the shim serves.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { ENGINE_PACKAGES } from '../../adapters/engine-packages.js';
import { ROOT } from '../helpers/processes.js';
import { tempDirectories } from '../helpers/temp-dir.js';

/** Optional peers a function's or an app's install does not pull. */
const NOT_INSTALLED = new Set([...Object.values(ENGINE_PACKAGES).flat(), '@aws-sdk/client-lambda']);
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

const temp = tempDirectories();
let packed: string[] = [];
let app = '';
let installed = '';

function run(script: string, args: string[] = []): string {
  return execFileSync(process.execPath, [script, ...args], {
    cwd: app,
    encoding: 'utf8',
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', AWS_ACCESS_KEY_ID: '', AWS_PROFILE: '' },
    timeout: 120_000,
  });
}

/** Links every package of this repository's node_modules into the app's, but `skipped`. */
function linkPackages(into: string, skipped: ReadonlySet<string>): void {
  const from = join(ROOT, 'node_modules');
  for (const name of readdirSync(from)) {
    if (name.startsWith('.') || name === 'aft-shim') continue;
    const names = name.startsWith('@')
      ? readdirSync(join(from, name)).map((inner) => `${name}/${inner}`)
      : [name];
    for (const full of names) {
      if (skipped.has(full)) continue;
      mkdirSync(dirname(join(into, full)), { recursive: true });
      symlinkSync(join(from, full), join(into, full), 'dir');
    }
  }
}

beforeAll(() => {
  // What `prepack` does after the build: the layer zip the construct ships with.
  execFileSync(process.execPath, [join(ROOT, 'dist', 'bin', 'build-layer.js')], { cwd: ROOT });
  const out = temp();
  const [report] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    }),
  ) as [{ filename: string; files: { path: string }[] }];
  packed = report.files.map((file) => file.path);

  app = temp();
  const modules = join(app, 'node_modules');
  mkdirSync(modules);
  execFileSync('tar', ['-xzf', join(out, report.filename), '-C', out]);
  installed = join(modules, 'aft-shim');
  renameSync(join(out, 'package'), installed);
  linkPackages(modules, NOT_INSTALLED);
  writeFileSync(join(app, 'package.json'), '{ "name": "scratch-app", "private": true, "type": "module" }\n');
}, 180_000);

describe('the npm package', () => {
  it('ships the built package, the layer zip, LICENSE and CHANGELOG, and no tests or benchmarks', () => {
    expect(packed).toEqual(
      expect.arrayContaining(['LICENSE', 'CHANGELOG.md', 'dist/layer/aft-lambda-layer.zip']),
    );
    expect(packed).toEqual(expect.arrayContaining(['dist/bin/aft.js', 'Dockerfile', 'docker-entrypoint.sh']));
    expect(packed.filter((path) => /^dist\/(test|bench)\//.test(path))).toEqual([]);
    // What builds the layer needs a development dependency (yazl): the zip ships instead.
    expect(packed.filter((path) => /build-layer|layer-package/.test(path))).toEqual([]);
  });

  it('asks npm to run nothing when it is installed', () => {
    // npm 11 warns of every install script a package has that allowScripts does not cover.
    const scripts = (
      JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { scripts?: object }
    ).scripts;
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare'])
      expect(scripts).not.toHaveProperty(hook);
  });

  it('names every engine package an optional peer, never a dependency', () => {
    for (const packageName of NOT_INSTALLED) {
      expect(manifest.dependencies[packageName]).toBeUndefined();
      expect(manifest.peerDependencies[packageName]).toBeDefined();
      expect(manifest.peerDependenciesMeta[packageName]).toEqual({ optional: true });
    }
  });

  it('synthesizes the AftShim construct from the installed package, with its layer and image', () => {
    writeFileSync(
      join(app, 'synth.mjs'),
      `import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AftShim, AftStorageEngine } from 'aft-shim/cdk';

const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'Scratch');
const aft = new AftShim(stack, 'Aft', { storage: AftStorageEngine.DYNAMODB });
const fn = new lambda.Function(stack, 'Fn', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline('exports.handler = async () => 1;'),
  vpc: aft.vpc,
});
aft.connect(fn);
const template = Template.fromStack(stack);
template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
template.resourceCountIs('AWS::ECS::Service', 1);
template.hasResourceProperties('AWS::Lambda::Function', {
  Layers: [{ Ref: stack.getLogicalId(aft.layerVersion().node.defaultChild) }],
});
const assembly = app.synth();
const assets = JSON.parse(
  (await import('node:fs')).readFileSync(assembly.directory + '/Scratch.assets.json', 'utf8'),
);
console.log(JSON.stringify({
  images: Object.values(assets.dockerImages).map((image) => image.source.directory),
  files: Object.values(assets.files).map((file) => file.source.path),
}));
`,
    );
    const { images, files } = JSON.parse(run('synth.mjs').trim().split('\n').pop()!) as {
      images: string[];
      files: string[];
    };
    expect(images).toHaveLength(1);
    // The Docker build context as CDK staged it from node_modules/aft-shim: every path the
    // Dockerfile copies is there, and the module graph of the entry point is complete.
    const context = join(app, 'cdk.out', images[0]!);
    const dockerfile = readFileSync(join(context, 'Dockerfile'), 'utf8');
    const copied = [...dockerfile.matchAll(/^COPY\s+(.+)\s+\S+$/gm)].flatMap((match) =>
      match[1]!.split(/\s+/),
    );
    expect(copied).toContain('package.json');
    for (const source of copied) expect(existsSync(join(context, source))).toBe(true);
    for (const file of importClosure(join(context, 'dist', 'bin', 'aft.js'))) {
      expect(copied.some((source) => file.startsWith(`${join(context, source)}/`))).toBe(true);
    }
    // No lockfile and no node_modules: the image installs from the package manifest.
    expect(existsSync(join(context, 'node_modules'))).toBe(false);
    expect(dockerfile).not.toMatch(/^COPY.*package-lock/m);
    // The layer asset is the shipped zip.
    expect(files.some((path) => path.endsWith('.zip'))).toBe(true);
  }, 120_000);

  it('gives the image a manifest with every engine package and nothing for development', () => {
    const copy = join(temp(), 'package.json');
    cpSync(join(installed, 'package.json'), copy);
    execFileSync(process.execPath, [join(installed, 'dist', 'bin', 'image-manifest.js'), copy]);
    const image = JSON.parse(readFileSync(copy, 'utf8')) as Record<
      string,
      Record<string, string> | undefined
    >;
    for (const packageName of Object.values(ENGINE_PACKAGES).flat()) {
      expect(image.dependencies?.[packageName]).toBe(manifest.peerDependencies[packageName]);
    }
    expect(image.dependencies?.express).toBe(manifest.dependencies.express);
    expect(image.devDependencies).toBeUndefined();
    expect(image.scripts).toBeUndefined();
  });

  it('imports the client and the Lambda layer without any npm package, engine SDK or the CDK', () => {
    const hooks = join(app, 'hooks.mjs');
    const loadedFile = join(app, 'loaded.txt');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(file, result.url + '\\n');
  return result;
}
`,
    );
    writeFileSync(
      join(app, 'imports.mjs'),
      `import { register } from 'node:module';
register('./hooks.mjs', import.meta.url, { data: { file: ${JSON.stringify(loadedFile)} } });
const client = await import('aft-shim/client');
const lambda = await import('aft-shim/lambda');
console.log(typeof client.AftClient, typeof lambda.withTransaction);
`,
    );
    expect(run('imports.mjs').trim()).toBe('function function');
    const loaded = readFileSync(loadedFile, 'utf8').trim().split('\n');
    expect(loaded.some((url) => url.includes('/aft-shim/dist/lambda-layer/client.js'))).toBe(true);
    // Only aft's own modules and Node's built-ins.
    const outside = loaded.filter(
      (url) => !url.startsWith('node:') && !url.includes('/node_modules/aft-shim/'),
    );
    expect(outside).toEqual([]);
  });

  it('serves from the package with no engine package installed, and names the one a URL needs', async () => {
    const aft = join(installed, 'dist', 'bin', 'aft.js');
    let failure: { status?: number; stderr?: string } = {};
    try {
      execFileSync(process.execPath, [aft, 'serve', '--port', '0', '--storage', 'redis://127.0.0.1:1'], {
        cwd: app,
        encoding: 'utf8',
        stdio: 'pipe',
        timeout: 30_000,
      });
    } catch (error) {
      failure = error as typeof failure;
    }
    expect(failure.status).toBe(2);
    expect(failure.stderr).toMatch(
      /redis:\/\/ storage engine needs the npm package ioredis.*npm install ioredis/,
    );

    const child = spawn(
      process.execPath,
      [aft, 'serve', '--port', '0', '--storage', `file:${posix.join(app, 'data')}`],
      {
        cwd: app,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const listening = await new Promise<string>((resolveLine, reject) => {
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('listening')) resolveLine(output);
        });
        child.once('exit', (code) => reject(new Error(`aft serve exited with ${code}: ${output}`)));
      });
      const url = /"url":"([^"]+)"/.exec(listening)?.[1];
      expect(url).toBeDefined();
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});

/** The files a module imports, relatively, in turn (a module's own package files only). */
function importClosure(entry: string): string[] {
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:from\s*|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      pending.push(join(dirname(file), match[1]!));
    }
  }
  return [...seen];
}

/**
 * The Lambda layer zip (`npm run build:layer`): `nodejs/node_modules/<package>/` holding the
 * layer's code (everything `dist/lambda-layer/index.js` and `client.js` import, found by
 * following their imports) and the npm packages that code imports, but no `@aws-sdk/*`: the
 * Lambda Node.js runtime ships the SDK. Entries have a fixed time, so the same build gives
 * the same zip (and the same CDK asset hash).
 */
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { ZipFile } from 'yazl';

export interface LayerBuildOptions {
  /** The aft package: its package.json, dist/ and node_modules/. */
  readonly packageRoot: string;
  readonly outputFile: string;
}

export interface LayerReport {
  readonly outputFile: string;
  readonly files: number;
  readonly bytes: number;
  readonly unpackedBytes: number;
  /** npm packages bundled besides aft itself. */
  readonly dependencies: readonly string[];
}

/** The layer's entry points, relative to dist/. */
const ENTRY_POINTS = ['lambda-layer/index.js', 'lambda-layer/client.js'];
/** Provided by the Lambda runtime. */
const RUNTIME_PROVIDED = /^@aws-sdk\//;
const FIXED_TIME = new Date('2020-01-01T00:00:00Z');
const IMPORT =
  /(?:^|[;\s])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

export async function buildLayer(options: LayerBuildOptions): Promise<LayerReport> {
  const root = resolve(options.packageRoot);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    license?: string;
  };
  const dist = join(root, 'dist');
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = ENTRY_POINTS.map((entry) => join(dist, entry));
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    if (!existsSync(file)) throw new Error(`${relative(root, file)} is missing: run npm run build first`);
    files.add(file);
    const declarations = file.replace(/\.js$/, '.d.ts');
    if (existsSync(declarations)) files.add(declarations);
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier));
      else if (!isBuiltin(specifier)) packages.add(packageNameOf(specifier));
    }
  }

  const zip = new ZipFile();
  const base = `nodejs/node_modules/${manifest.name}`;
  let unpackedBytes = 0;
  let entries = 0;
  const add = (absolute: string, path: string) => {
    zip.addFile(absolute, path, { mtime: FIXED_TIME, mode: 0o100644 });
    unpackedBytes += statSync(absolute).size;
    entries += 1;
  };
  for (const file of [...files].sort())
    add(file, posix.join(base, relative(root, file).split('\\').join('/')));
  const layerManifest = {
    name: manifest.name,
    version: manifest.version,
    license: manifest.license,
    type: 'module',
    exports: {
      './lambda': { types: './dist/lambda-layer/index.d.ts', default: './dist/lambda-layer/index.js' },
      './client': { types: './dist/lambda-layer/client.d.ts', default: './dist/lambda-layer/client.js' },
      './package.json': './package.json',
    },
  };
  const manifestBytes = Buffer.from(`${JSON.stringify(layerManifest, null, 2)}\n`);
  zip.addBuffer(manifestBytes, `${base}/package.json`, { mtime: FIXED_TIME, mode: 0o100644 });
  unpackedBytes += manifestBytes.length;
  entries += 1;

  // Each npm package the code imports, with the packages it depends on in turn.
  const bundled = new Set<string>();
  const queue = [...packages].filter((name) => !RUNTIME_PROVIDED.test(name));
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (bundled.has(name) || RUNTIME_PROVIDED.test(name)) continue;
    bundled.add(name);
    const directory = join(root, 'node_modules', name);
    if (!existsSync(directory)) throw new Error(`the layer needs ${name}, which is not installed`);
    for (const file of walk(directory))
      add(file, posix.join('nodejs/node_modules', name, relative(directory, file)));
    const dependencies = (
      JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      }
    ).dependencies;
    queue.push(...Object.keys(dependencies ?? {}));
  }

  mkdirSync(dirname(options.outputFile), { recursive: true });
  // Written aside and renamed into place: a CDK app (or a test) reading the zip while another
  // build runs sees the old zip or the new one, never half of one.
  const partial = `${options.outputFile}.${process.pid}.${Date.now()}.partial`;
  const written = new Promise<void>((resolveWrite, reject) => {
    const output = createWriteStream(partial);
    output.on('close', resolveWrite).on('error', reject);
    zip.outputStream.pipe(output);
  });
  zip.end();
  await written;
  renameSync(partial, options.outputFile);
  return {
    outputFile: options.outputFile,
    files: entries,
    bytes: statSync(options.outputFile).size,
    unpackedBytes,
    dependencies: [...bundled].sort(),
  };
}

export function importsOf(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(IMPORT)) found.push((match[1] ?? match[2])!);
  return found;
}

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier);
}

function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

function walk(directory: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(directory).sort()) {
    if (name === 'node_modules') continue;
    const path = join(directory, name);
    if (statSync(path).isDirectory()) files.push(...walk(path));
    else files.push(path);
  }
  return files;
}

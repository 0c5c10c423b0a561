/** A stand-in for the `npm run build:layer` zip (test/lambda/layer.test.ts tests the real one). */
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZipFile } from 'yazl';

export async function stubLayerZip(): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'aft-cdk-')), 'layer.zip');
  const zip = new ZipFile();
  zip.addBuffer(Buffer.from('{}'), 'nodejs/node_modules/aft-shim/package.json');
  const written = new Promise<void>((resolve) =>
    zip.outputStream.pipe(createWriteStream(path)).on('close', resolve),
  );
  zip.end();
  await written;
  return path;
}

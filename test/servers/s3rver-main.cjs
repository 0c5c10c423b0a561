// Runs s3rver for tests and benchmarks, with two of its bugs worked around and the conditional
// writes it lacks added.
//
// After a DELETE, s3rver's file store removes the object's directory when it is empty. A
// PUT into that directory at the same moment has already made it (mkdirp) and then fails to
// open its file (ENOENT), and s3rver dies of the unhandled error. Real S3 has no
// directories. Here a DELETE removes the object's files and leaves directories alone.
//
// Usage: node --openssl-legacy-provider s3rver-main.cjs <directory> <port> <bucket>
const { createHash, randomBytes } = require('node:crypto');
const { mkdir, rename, unlink, writeFile } = require('node:fs/promises');
const { dirname } = require('node:path');
const FilesystemStore = require('s3rver/lib/stores/filesystem');
const S3rver = require('s3rver');

FilesystemStore.prototype.deleteObject = async function deleteObject(bucket, key) {
  await Promise.all(
    ['object', 'object.md5', 'metadata.json'].map((type) =>
      unlink(this.getResourcePath(bucket, key, type)).catch((error) => {
        if (error.code !== 'ENOENT') throw error;
      }),
    ),
  );
};

// s3rver ignores If-None-Match and If-Match on PUT. S3 answers them atomically: 412
// PreconditionFailed when `If-None-Match: *` finds the key, or `If-Match` finds another ETag;
// 404 NoSuchKey when `If-Match` finds no object. This layer does the same, checking and writing
// under one lock per key (s3rver runs in this one process), so a race of conditional writers
// has exactly one winner, as on S3, and aft's put-if-absent is tested on S3 like elsewhere.
const locks = new Map();

function s3Error(ctx, status, code, message, condition) {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>` +
    `${condition ? `<Condition>${condition}</Condition>` : ''}</Error>`;
}

async function conditionalWrites(ctx, next) {
  const ifNoneMatch = ctx.get('if-none-match');
  const ifMatch = ctx.get('if-match');
  if (ctx.method !== 'PUT' || (!ifNoneMatch && !ifMatch) || ctx.query.partNumber !== undefined) {
    return next();
  }
  const [, bucketName, ...keyParts] = ctx.path.split('/');
  const key = decodeURIComponent(keyParts.join('/'));
  const name = `${decodeURIComponent(bucketName)}/${key}`;
  const previous = locks.get(name) ?? Promise.resolve();
  let release;
  const mine = new Promise((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  locks.set(name, tail);
  await previous;
  try {
    const store = ctx.app.store;
    const exists = await store.existsObject(decodeURIComponent(bucketName), key);
    if (ifNoneMatch === '*' && exists) {
      return s3Error(
        ctx,
        412,
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
        'If-None-Match',
      );
    }
    if (ifMatch) {
      if (!exists) return s3Error(ctx, 404, 'NoSuchKey', 'The specified key does not exist.');
      const { etag } = await store.getMetadata(decodeURIComponent(bucketName), key);
      if (ifMatch !== '*' && ifMatch !== etag) {
        return s3Error(
          ctx,
          412,
          'PreconditionFailed',
          'At least one of the pre-conditions you specified did not hold',
          'If-Match',
        );
      }
    }
    return await next();
  } finally {
    release();
    if (locks.get(name) === tail) locks.delete(name);
  }
}

// s3rver streams a PUT's body straight into the object's file, truncating it first: a client
// that dies mid-request leaves an empty or torn object. And it answers the PUT once the bytes
// are handed to a write stream, before they are in the file: a GET right after read a 5 MiB
// object as its first 4 MiB, and a conditional writer right after found no file and won too.
// S3 stores an object whole or not at all, and visible once acknowledged. Here the body is
// read to its end first (a request cut off before it stores nothing), written to a temporary
// file and renamed into place before the PUT is answered.
FilesystemStore.prototype.putObject = async function putObject(object) {
  let content = object.content;
  if (!Buffer.isBuffer(content)) {
    const chunks = [];
    await new Promise((resolve, reject) => {
      let ended = false;
      content
        .on('data', (chunk) => chunks.push(chunk))
        .on('end', () => {
          ended = true;
          resolve();
        })
        .on('error', reject)
        .on('close', () => {
          if (!ended) reject(new Error('the request ended before its body did'));
        });
    });
    content = Buffer.concat(chunks);
  }
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await mkdir(dirname(objectPath), { recursive: true });
  const temporary = `${objectPath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, content);
  await rename(temporary, objectPath);
  const md5 = createHash('md5').update(content).digest('hex');
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  return { size: content.length, md5 };
};

const [directory, port, bucket] = process.argv.slice(2);
const server = new S3rver({
  directory,
  port: Number(port),
  address: '127.0.0.1',
  silent: true,
  configureBuckets: [{ name: bucket }],
});
// First in line, before s3rver's own routes (Koa composes the list when the server starts).
server.middleware.unshift(conditionalWrites);
server.run().then(() => process.stdout.write(`s3rver listening on 127.0.0.1:${port}\n`));

// Runs s3rver for tests and benchmarks, with one of its bugs worked around.
//
// After a DELETE, s3rver's file store removes the object's directory when it is empty. A
// PUT into that directory at the same moment has already made it (mkdirp) and then fails to
// open its file (ENOENT), and s3rver dies of the unhandled error. Real S3 has no
// directories. Here a DELETE removes the object's files and leaves directories alone.
//
// Usage: node --openssl-legacy-provider s3rver-main.cjs <directory> <port> <bucket>
const { unlink } = require('node:fs/promises');
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

const [directory, port, bucket] = process.argv.slice(2);
new S3rver({
  directory,
  port: Number(port),
  address: '127.0.0.1',
  silent: true,
  configureBuckets: [{ name: bucket }],
})
  .run()
  .then(() => process.stdout.write(`s3rver listening on 127.0.0.1:${port}\n`));

// A child process for file store crash tests. Modes:
//   write <dir>           write versions and commit records forever, printing each acknowledged one
//   race <dir> <n> <tag>  try to create commit records 0..n-1, printing the ones this process won
import { createHash } from 'node:crypto';
import { FileAdapter } from '../../dist/adapters/file.js';

const [mode, directory, count, tag] = process.argv.slice(2);
const adapter = new FileAdapter({ directory });

export function expectedValue(versionId) {
  const block = createHash('sha256').update(versionId).digest();
  return Buffer.concat(Array.from({ length: 2048 }, () => block)); // 64 KiB
}

const id = (n) => `${n.toString(16).padStart(18, '0')}.writer-${process.pid}`;

if (mode === 'write') {
  for (let n = 1; ; n += 1) {
    const versionId = id(n);
    await adapter.putVersions([
      { key: `k${n % 7}`, versionId, value: expectedValue(versionId) },
      { key: `l${n % 5}`, versionId, value: expectedValue(versionId) },
    ]);
    await adapter.putCommitRecord({
      versionId,
      txid: `t${n}`,
      writeSet: [`k${n % 7}`, `l${n % 5}`],
      deleted: [],
    });
    process.stdout.write(`ack ${versionId}\n`);
  }
} else if (mode === 'race') {
  for (let n = 0; n < Number(count); n += 1) {
    const versionId = `${n.toString(16).padStart(18, '0')}.race`;
    if (await adapter.putCommitRecord({ versionId, txid: tag, writeSet: ['k'], deleted: [] })) {
      process.stdout.write(`won ${versionId}\n`);
    }
  }
}

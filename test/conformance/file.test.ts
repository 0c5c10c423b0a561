import { FileAdapter } from '../../adapters/file.js';
import { tempDirectories } from '../helpers/temp-dir.js';
import { damageFileRecord } from './damage.js';
import { registerConformance } from './jest.js';

const tempDir = tempDirectories();
registerConformance('file', async () => new FileAdapter({ directory: tempDir() }), {
  batchPutEntries: true,
  damageRecord: damageFileRecord,
});
registerConformance(
  'file without fsync',
  async () => new FileAdapter({ directory: tempDir(), fsync: false }),
  { batchPutEntries: true },
);

/**
 * The intent's encoding (shim/intents.ts): what a redo-log intent holds decodes to the very
 * versions it was made of, and the size bound a commit chooses by never under-counts.
 */
import fc from 'fast-check';
import type { VersionWrite } from '../../adapters/contract.js';
import { MemoryAdapter } from '../../adapters/memory.js';
import {
  decodeIntent,
  encodeIntent,
  INTENTS_NAMESPACE,
  intentMayHoldValues,
  valueFromIntent,
  versionsOfIntent,
} from '../../shim/intents.js';
import { propertyRuns } from '../model/seed.js';

const VERSION_ID = '01a2224086cb000000.txid';

/** Keys of any characters (escapes, non-ASCII, surrogate pairs), values of any bytes. */
const versionsArbitrary = fc
  .array(
    fc.record({
      key: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
      value: fc.uint8Array({ maxLength: 300 }),
    }),
    { maxLength: 12 },
  )
  .map((items) => items.map(({ key, value }): VersionWrite => ({ key, versionId: VERSION_ID, value })));

describe('commit intents', () => {
  it('a redo-log intent decodes to the versions it was made of; one of keys only holds none', () => {
    fc.assert(
      fc.property(versionsArbitrary, (versions) => {
        const withValues = decodeIntent(encodeIntent(versions, true))!;
        expect(withValues.keys).toEqual(versions.map((version) => version.key));
        expect(versionsOfIntent(VERSION_ID, withValues)).toEqual(versions);
        const keysOnly = decodeIntent(encodeIntent(versions, false))!;
        expect(keysOnly.values).toBeUndefined();
        expect(versionsOfIntent(VERSION_ID, keysOnly)).toEqual([]);
      }),
      propertyRuns(200),
    );
  });

  it('the values go in the intent only where it fits the engine’s largest entry', () => {
    fc.assert(
      fc.property(versionsArbitrary, fc.integer({ min: 0, max: 8000 }), (versions, maxEntryBytes) => {
        if (intentMayHoldValues(versions, maxEntryBytes)) {
          expect(encodeIntent(versions, true).byteLength).toBeLessThanOrEqual(maxEntryBytes);
        }
      }),
      propertyRuns(500),
    );
    expect(
      intentMayHoldValues([{ key: 'k', versionId: VERSION_ID, value: new Uint8Array(1e6) }], undefined),
    ).toBe(true);
    expect(intentMayHoldValues([{ key: 'k', versionId: VERSION_ID, value: new Uint8Array(300) }], 350)).toBe(
      false,
    );
  });

  it('an intent that is not what a commit writes (a damaged entry) decodes to nothing, not an exception', async () => {
    const damaged = [
      'not json',
      'null',
      '5',
      '{}',
      '{"keys":5}',
      '{"keys":["a",7]}',
      '{"keys":["a"],"values":[]}',
    ];
    for (const text of damaged) expect(decodeIntent(new TextEncoder().encode(text))).toBeUndefined();
    // Bytes that are not UTF-8: damage, never a key of replacement characters.
    const notUtf8 = Uint8Array.from([
      ...new TextEncoder().encode('{"keys":["'),
      0xff,
      ...new TextEncoder().encode('"]}'),
    ]);
    expect(decodeIntent(notUtf8)).toBeUndefined();
    // A read of a version not written yet finds no value there (the read then answers 503).
    const storage = new MemoryAdapter();
    await storage.putEntry(
      INTENTS_NAMESPACE,
      VERSION_ID,
      new TextEncoder().encode('{"keys":["k"],"values":7}'),
    );
    await expect(valueFromIntent(storage, 'k', VERSION_ID, {})).resolves.toBeUndefined();
  });
});

/**
 * The in-process store keeps each namespace's entry ids in order, with deleted ids swept out
 * in bulk (adapters/memory.ts, EntryNamespace). Random puts, creates, swaps and deletes over a
 * few ids, against the model: a plain map whose listing sorts every entry, as the adapter did
 * before. After every step a listing from any point with any limit is the model's.
 */
import fc from 'fast-check';
import { MemoryAdapter } from '../../adapters/memory.js';
import { propertyRuns } from '../model/seed.js';

const IDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] as const;
const NAMESPACE = 'ns';

const command = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), id: fc.constantFrom(...IDS), value: fc.nat(9) }),
  fc.record({ kind: fc.constant('create' as const), id: fc.constantFrom(...IDS), value: fc.nat(9) }),
  fc.record({ kind: fc.constant('swap' as const), id: fc.constantFrom(...IDS), value: fc.nat(9) }),
  fc.record({
    kind: fc.constant('delete' as const),
    ids: fc.uniqueArray(fc.constantFrom(...IDS), { maxLength: 4 }),
  }),
);

const bytes = (value: number) => new Uint8Array([value]);

describe('MemoryAdapter entries', () => {
  it('lists an id deleted and written again once, the newest or not', async () => {
    const adapter = new MemoryAdapter();
    for (const id of ['a', 'b', 'c', 'd', 'e']) await adapter.putEntry(NAMESPACE, id, bytes(0));
    await adapter.listEntries(NAMESPACE);
    // Few deleted (no mending for them), and each back at once.
    await adapter.deleteEntries(NAMESPACE, ['e']);
    await adapter.putEntry(NAMESPACE, 'e', bytes(1));
    const listed = async () =>
      (await adapter.listEntries(NAMESPACE)).map(({ id, value }) => `${id}${value[0]}`);
    expect(await listed()).toEqual(['a0', 'b0', 'c0', 'd0', 'e1']);
    await adapter.deleteEntries(NAMESPACE, ['b']);
    await adapter.putEntry(NAMESPACE, 'b', bytes(2));
    expect(await listed()).toEqual(['a0', 'b2', 'c0', 'd0', 'e1']);
  });

  it('list in id order from any point with any limit, whatever was written and deleted before', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 60 }), async (commands) => {
        const adapter = new MemoryAdapter();
        const model = new Map<string, number>();
        for (const step of commands) {
          switch (step.kind) {
            case 'put':
              await adapter.putEntry(NAMESPACE, step.id, bytes(step.value));
              model.set(step.id, step.value);
              break;
            case 'create':
              expect(await adapter.createEntry(NAMESPACE, step.id, bytes(step.value))).toBe(
                !model.has(step.id),
              );
              if (!model.has(step.id)) model.set(step.id, step.value);
              break;
            case 'swap': {
              const current = model.get(step.id);
              const expected = current === undefined ? undefined : bytes(current);
              expect(await adapter.swapEntry(NAMESPACE, step.id, expected, bytes(step.value))).toBe(true);
              model.set(step.id, step.value);
              break;
            }
            case 'delete':
              await adapter.deleteEntries(NAMESPACE, step.ids);
              for (const id of step.ids) model.delete(id);
              break;
          }
          const sorted = [...model].sort(([a], [b]) => (a < b ? -1 : 1));
          for (const after of [undefined, ...IDS, 'c0']) {
            for (const limit of [undefined, 1, 3]) {
              const listed = await adapter.listEntries(NAMESPACE, {
                ...(after !== undefined && { after }),
                ...(limit !== undefined && { limit }),
              });
              const expected = sorted
                .filter(([id]) => after === undefined || id > after)
                .slice(0, limit ?? Number.POSITIVE_INFINITY);
              expect(listed.map(({ id, value }) => [id, value[0]])).toEqual(expected);
            }
          }
        }
      }),
      propertyRuns(200),
    );
  });
});

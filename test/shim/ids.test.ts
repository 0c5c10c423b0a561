import fc from 'fast-check';
import {
  beganAtOfTxid,
  formatVersionId,
  HybridLogicalClock,
  isTxid,
  ownerOfTxid,
  parseVersionId,
  TxidGenerator,
} from '../../shim/ids.js';

describe('ids', () => {
  it('txids are unique, name their node and begin time, carry 128 random bits and are safe in a URL path', () => {
    const generator = new TxidGenerator('abcdefghij', () => 1_800_000_000_123);
    const ids = new Set(Array.from({ length: 1000 }, () => generator.next()));
    expect(ids.size).toBe(1000);
    for (const id of ids) {
      expect(isTxid(id)).toBe(true);
      expect(ownerOfTxid(id)).toBe('abcdefghij');
      expect(beganAtOfTxid(id)).toBe(1_800_000_000_123);
      expect(id.split('-').pop()).toMatch(/^[0-9a-f]{32}$/);
      expect(encodeURIComponent(id)).toBe(id);
    }
    expect(ownerOfTxid('not a txid')).toBeUndefined();
  });

  it('version ids sort as plain strings in timestamp order and round-trip', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.nat(2 ** 44), fc.nat(2 ** 24 - 1)),
        fc.tuple(fc.nat(2 ** 44), fc.nat(2 ** 24 - 1)),
        ([ms1, l1], [ms2, l2]) => {
          const a = formatVersionId({ physicalMs: ms1, logical: l1 }, 'x');
          const b = formatVersionId({ physicalMs: ms2, logical: l2 }, 'x');
          const byTime = ms1 !== ms2 ? Math.sign(ms1 - ms2) : Math.sign(l1 - l2);
          expect(Math.sign(a < b ? -1 : a > b ? 1 : 0)).toBe(byTime);
          expect(parseVersionId(a)).toEqual({ physicalMs: ms1, logical: l1, txid: 'x' });
        },
      ),
    );
  });

  it('parseVersionId answers what the version id pattern matches, for any string', () => {
    const pattern = /^([0-9a-f]{12})([0-9a-f]{6})\.(.+)$/;
    const byPattern = (value: string) => {
      const match = pattern.exec(value);
      return match
        ? {
            physicalMs: Number.parseInt(match[1]!, 16),
            logical: Number.parseInt(match[2]!, 16),
            txid: match[3]!,
          }
        : undefined;
    };
    const hex = fc.oneof(
      { weight: 19, arbitrary: fc.constantFrom(...'0123456789abcdef') },
      // Just outside each range of hex digits, and others.
      { weight: 1, arbitrary: fc.constantFrom('/', ':', '`', 'g', 'A', 'F', 'x', '.') },
    );
    // Near misses as much as strings at random: a time of hex (or almost), a dot (or not),
    // a tail with line terminators among other characters.
    const nearVersionId = fc
      .tuple(
        fc.oneof(
          { weight: 8, arbitrary: fc.array(hex, { minLength: 18, maxLength: 18 }) },
          { weight: 1, arbitrary: fc.array(hex, { minLength: 17, maxLength: 19 }) },
        ),
        fc.oneof(
          { weight: 8, arbitrary: fc.constant('.') },
          { weight: 1, arbitrary: fc.constantFrom(',', '') },
        ),
        fc.array(fc.constantFrom('a', '-', '\n', '\r', '\u2028', '\u2029', 'é', '.'), { maxLength: 4 }),
      )
      .map(([time, dot, tail]) => time.join('') + dot + tail.join(''));
    fc.assert(
      fc.property(
        fc.oneof({ weight: 4, arbitrary: nearVersionId }, fc.string(), fc.string({ unit: 'binary' })),
        (value) => {
          expect(parseVersionId(value)).toEqual(byPattern(value));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('the hybrid clock never runs backwards and moves past what it observes', () => {
    let wall = 1000;
    const clock = new HybridLogicalClock(() => wall);
    const seen: string[] = [];
    const stamp = () => formatVersionId(clock.tick(), 't');
    seen.push(stamp());
    seen.push(stamp());
    wall = 500; // the wall clock jumps back
    seen.push(stamp());
    clock.observe({ physicalMs: 9000, logical: 7 });
    seen.push(stamp());
    wall = 20_000;
    seen.push(stamp());
    expect([...seen].sort()).toEqual(seen);
    expect(new Set(seen).size).toBe(seen.length);
    expect(parseVersionId(seen[3]!)).toMatchObject({ physicalMs: 9000, logical: 8 });
  });

  it('borrows the next millisecond when the logical counter is spent', () => {
    const clock = new HybridLogicalClock(() => 1);
    clock.observe({ physicalMs: 1, logical: 2 ** 24 - 1 });
    expect(clock.tick()).toEqual({ physicalMs: 2, logical: 0 });
  });
});

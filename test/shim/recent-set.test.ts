import { RecentSet } from '../../shim/recent-set.js';

describe('RecentSet', () => {
  it('holds at least the last `capacity` values added, and at most twice that', () => {
    const set = new RecentSet<number>(100);
    for (let i = 0; i < 1000; i += 1) {
      set.add(i);
      for (const back of [0, 1, 50, 99]) if (i - back >= 0) expect(set.has(i - back)).toBe(true);
      expect(set.size).toBeLessThanOrEqual(200);
    }
    expect(set.has(999 - 200)).toBe(false);
    expect(set.has(1000)).toBe(false);
  });

  it('adding a value it holds adds nothing', () => {
    const set = new RecentSet<string>(2);
    set.add('a').add('a').add('a');
    expect(set.size).toBe(1);
    expect(() => new RecentSet(0)).toThrow(RangeError);
  });
});

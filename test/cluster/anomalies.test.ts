/** The anomaly checker the cluster tests rely on finds each anomaly it claims to. */
import { anomaliesIn } from './anomalies.js';

const token = (txid: string, keys: string[], aborted = false) => JSON.stringify({ txid, keys, aborted });

describe('anomaliesIn', () => {
  it('accepts consistent reads', () => {
    expect(
      anomaliesIn([
        { key: 'k', version: 'v2', value: token('t2', ['k', 'l']) },
        { key: 'l', version: 'v2', value: token('t2', ['k', 'l']) },
        { key: 'm', version: null, value: null },
        { key: 'k', version: 'v2', value: token('t2', ['k', 'l']) },
      ]),
    ).toEqual([]);
  });

  it('finds fractured, non-repeatable and dirty reads', () => {
    expect(
      anomaliesIn([
        { key: 'k', version: 'v2', value: token('t2', ['k', 'l']) },
        { key: 'l', version: 'v1', value: token('t1', ['l']) },
      ]),
    ).toEqual(['fractured read: k@v2 (t2) but l@v1']);
    expect(
      anomaliesIn([
        { key: 'k', version: 'v1', value: token('t1', ['k']) },
        { key: 'k', version: 'v2', value: token('t2', ['k']) },
      ]),
    ).toEqual(['non-repeatable read of k: v1 then v2']);
    expect(anomaliesIn([{ key: 'k', version: 'v1', value: token('t1', ['k'], true) }])).toEqual([
      'dirty read of k: written by aborted t1',
    ]);
  });
});

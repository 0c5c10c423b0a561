/** Short protocol bounds for tests: orphan bound 220 ms, known lag 70 ms; every pull settles. */
export const SHORT_TIMING = {
  intentDeadlineMs: 50,
  recordDeadlineMs: 100,
  storageCallTimeoutMs: 100,
  maxClockSkewMs: 20,
  overlapPullEvery: 1,
  outcomeRetentionMs: 440,
  markerRetentionMs: 440,
};

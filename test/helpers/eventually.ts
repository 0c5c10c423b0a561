/**
 * Polls `probe` until `accept` holds, for up to `timeoutMs`, and returns the last value seen
 * either way, so the assertion that follows reports the state it found. Tests wait for what
 * they check this way rather than sleeping a fixed time: a loaded machine is slow, not wrong.
 */
export async function eventually<T>(
  probe: () => T | Promise<T>,
  accept: (value: T) => boolean,
  { timeoutMs = 10_000, everyMs = 10 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value) || Date.now() >= deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

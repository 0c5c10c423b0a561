/**
 * Appends `items` to `target` one by one. `target.push(...items)` passes every item as an
 * argument, and past about 120,000 of them (a namespace or a time bucket one page answers
 * whole) V8 throws RangeError: Maximum call stack size exceeded.
 */
export function appendAll<T>(target: T[], items: Iterable<T>): T[] {
  for (const item of items) target.push(item);
  return target;
}

/** Sorted arrays of strings in plain string order (version ids sort this way). */

/** The index of the first element greater than `value`. */
export function upperBound(sorted: readonly string[], value: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! <= value) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Inserts `value` in order unless present; appends in O(1) when it is the largest, the common case. */
export function insertSorted(sorted: string[], value: string): boolean {
  const last = sorted[sorted.length - 1];
  if (last === undefined || last < value) {
    sorted.push(value);
    return true;
  }
  const index = upperBound(sorted, value);
  if (sorted[index - 1] === value) return false;
  sorted.splice(index, 0, value);
  return true;
}

/** Removes `value` if present. */
export function removeSorted(sorted: string[], value: string): boolean {
  const index = upperBound(sorted, value) - 1;
  if (sorted[index] !== value) return false;
  sorted.splice(index, 1);
  return true;
}

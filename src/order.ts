/**
 * String order by UTF-16 code unit, as `Array.prototype.sort` without a comparator, never the locale's: every
 * order that reaches bytes (tar entries, layer plans, the lock, reports) must be the same on every machine.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

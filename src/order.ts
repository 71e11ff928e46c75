/**
 * String order by UTF-16 code unit, as `Array.prototype.sort` without a comparator, never the locale's: every
 * order that reaches bytes (tar entries, layer plans, the lock, reports) must be the same on every machine.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions), stopping past `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur.push(v);
      if (v < best) best = v;
    }
    if (best > max) return max + 1;
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The few `names` closest to `name`, closest first, for a "did you mean": every "did you mean" (package names,
 * spec keys) comes from here. The bounded distance keeps one pass over an archive's ~65k names cheap.
 */
export function closestNames(name: string, names: Iterable<string>, limit = 5): string[] {
  const max = Math.max(2, Math.floor(name.length / 4));
  const scored: Array<[number, string]> = [];
  for (const n of names) {
    if (n === name) continue;
    const d = editDistance(name, n, max);
    // Among equally close names, one that extends what was typed (libssl → libssl3) is the likelier intent.
    if (d <= max) scored.push([d - (n.startsWith(name) ? 0.5 : 0), n]);
    else if (name.length >= 3 && (n.startsWith(name) || name.startsWith(n)) && n.length >= 3) {
      scored.push([max + 1 + Math.abs(n.length - name.length) / 1000, n]);
    }
  }
  scored.sort((x, y) => x[0] - y[0] || compareStrings(x[1], y[1]));
  return scored.slice(0, limit).map(([, n]) => n);
}

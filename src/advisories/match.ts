/**
 * Matching advisories to installed packages: by Debian *source* package and source version, in dpkg order.
 * Advisories are indexed by source once, so checking a fleet costs one map lookup per installed source.
 */
import { compareVersions } from '../debian/version.ts';
import type { Advisory } from './feeds.ts';

/** dpkg ordering, with unparsable versions (a feed's typo) ordered as never-equal rather than thrown. */
function compare(a: string, b: string): number | undefined {
  try {
    return compareVersions(a, b);
  } catch {
    return undefined;
  }
}

/** Whether `version` of the advisory's source package is affected. */
export function affects(advisory: Advisory, version: string): boolean {
  if (advisory.versions.includes(version)) return true;
  for (const r of advisory.ranges) {
    const from = r.introduced === undefined || r.introduced === '0' ? true : (compare(version, r.introduced) ?? -1) >= 0;
    if (!from) continue;
    if (r.fixed !== undefined && (compare(version, r.fixed) ?? 1) >= 0) continue;
    if (r.lastAffected !== undefined && (compare(version, r.lastAffected) ?? 1) > 0) continue;
    return true;
  }
  return false;
}

export class AdvisoryIndex {
  private readonly bySource = new Map<string, Advisory[]>();

  constructor(advisories: Iterable<Advisory>) {
    for (const a of advisories) {
      let list = this.bySource.get(a.source);
      if (!list) this.bySource.set(a.source, (list = []));
      list.push(a);
    }
  }

  get sources(): IterableIterator<string> {
    return this.bySource.keys();
  }

  /** A fleet built from one archive shares its (source, version) pairs: each is matched once. */
  private readonly memo = new Map<string, Advisory[]>();

  /** The advisories affecting `source` at `version` (several records of one CVE are all returned). */
  affecting(source: string, version: string): Advisory[] {
    const list = this.bySource.get(source);
    if (!list) return [];
    const key = `${source}\0${version}`;
    let hit = this.memo.get(key);
    if (!hit) this.memo.set(key, (hit = list.filter((a) => affects(a, version))));
    return hit;
  }
}

/**
 * A Debian changelog (`/usr/share/doc/PKG/changelog.Debian.gz`), read to explain an update from the package
 * itself: the entries between the locked and the new version, the CVEs they name, and their urgency.
 */
import { gunzipSync } from 'node:zlib';
import type { Deb } from './deb.ts';
import { compareVersions } from './version.ts';
import { readContent } from '../fs/content.ts';

export interface ChangelogEntry {
  source: string;
  version: string;
  distribution: string;
  urgency: string;
  /** The change lines, as written (indentation trimmed). */
  changes: string[];
  cves: string[];
  date?: string;
}

const HEADER = /^(\S+) \(([^)\s]+)\) ([^;]+);(.*)$/;
const CVE = /CVE-\d{4}-\d{4,}/g;

export function parseChangelog(text: string): ChangelogEntry[] {
  const entries: ChangelogEntry[] = [];
  let current: ChangelogEntry | undefined;
  for (const line of text.split('\n')) {
    const header = HEADER.exec(line);
    if (header) {
      const urgency = /urgency=([A-Za-z]+)/.exec(header[4]!)?.[1]?.toLowerCase() ?? 'low';
      current = { source: header[1]!, version: header[2]!, distribution: header[3]!.trim(), urgency, changes: [], cves: [] };
      entries.push(current);
    } else if (current && line.startsWith(' -- ')) {
      current.date = /> {1,2}(.+)$/.exec(line)?.[1]?.trim();
    } else if (current && line.trim() !== '') {
      current.changes.push(line.trim());
      for (const cve of line.match(CVE) ?? []) if (!current.cves.includes(cve)) current.cves.push(cve);
    }
  }
  return entries;
}

/** The entries newer than `from`, up to and including `to`, newest first (as the changelog lists them). */
export function entriesBetween(entries: ChangelogEntry[], from: string, to: string): ChangelogEntry[] {
  return entries.filter((e) => {
    try {
      return compareVersions(e.version, from) > 0 && compareVersions(e.version, to) <= 0;
    } catch {
      return false; // a version dpkg would not parse: not one pith can place
    }
  });
}

/** Urgencies in Debian's order, so a summary can give the highest. */
const URGENCY = ['low', 'medium', 'high', 'emergency', 'critical'];
export function highestUrgency(entries: ChangelogEntry[]): string | undefined {
  let best: string | undefined;
  for (const e of entries) if (best === undefined || URGENCY.indexOf(e.urgency) > URGENCY.indexOf(best)) best = e.urgency;
  return best;
}

/**
 * The changelog a .deb ships for `pkg`: `changelog.Debian.gz` (a binNMU's own `changelog.Debian.<arch>.gz` only
 * adds a rebuild entry), or `changelog.gz` for native packages. Undefined when the package ships none — e.g.
 * when its doc directory is a symlink to another binary package of the same source.
 */
export function debChangelog(deb: Deb, pkg: string): string | undefined {
  for (const name of ['changelog.Debian.gz', 'changelog.gz']) {
    const entry = deb.entries.find((e) => e.path === `/usr/share/doc/${pkg}/${name}`);
    if (entry?.type === 'file') return gunzipSync(readContent(entry.content)).toString('utf8');
  }
  return undefined;
}

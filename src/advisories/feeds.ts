/**
 * The two advisory formats pith reads, reduced to one shape: which versions of a Debian *source* package a
 * vulnerability affects. OSV records (ecosystem `Debian:<major>`) and the Debian Security Tracker's JSON
 * (`source → CVE → releases.<codename>`) both name source packages, as the archive's fixes do.
 */
import { PithError } from '../errors.ts';

export interface AffectedRange {
  /** Absent or "0": from the first version. */
  introduced?: string;
  /** First version that is not affected. */
  fixed?: string;
  /** Last version that is affected (OSV `last_affected`). */
  lastAffected?: string;
}

export interface Advisory {
  /** CVE-… when the record has one (OSV aliases included), else the record's own id. */
  id: string;
  /** The record's id and aliases. */
  aliases: string[];
  /** Debian source package. */
  source: string;
  ranges: AffectedRange[];
  /** Source versions listed as affected one by one (OSV `versions`). */
  versions: string[];
  /** The fixed version, when the record names one (the first `fixed` event, or the tracker's `fixed_version`). */
  fixed?: string;
  /** Tracker urgency or OSV severity, as written. */
  severity?: string;
  feed: 'osv' | 'tracker';
  /** File or URL, and the record inside it. */
  where: string;
}

export interface FeedParse {
  advisories: Advisory[];
  /** Records for another ecosystem or release: not errors, just not this image's. */
  skipped: number;
}

function invalid(where: string, message: string): PithError {
  return new PithError('ADVISORY_INVALID', `${where}: ${message}`, { details: { where } });
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalid(where, `expected JSON, ${(e as Error).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const cveOf = (ids: string[]) => ids.find((a) => /^CVE-\d{4}-\d+$/.test(a));

/**
 * One OSV record (or an array of them, as some exports ship). Only `affected[]` entries whose ecosystem is
 * `ecosystem` (e.g. `Debian:12`) count; a malformed record is an error naming its id and the JSON path.
 */
export function parseOsv(text: string, where: string, ecosystem: string): FeedParse {
  const value = parseJson(text, where);
  const records = Array.isArray(value) ? value : [value];
  const out: FeedParse = { advisories: [], skipped: 0 };
  records.forEach((record, r) => {
    const at = Array.isArray(value) ? `${where}[${r}]` : where;
    if (!isObject(record) || typeof record.id !== 'string' || record.id === '') throw invalid(at, 'expected an OSV record with a string "id"');
    const id = record.id;
    const named = `${at} (${id})`;
    if (record.aliases !== undefined && (!Array.isArray(record.aliases) || record.aliases.some((a) => typeof a !== 'string'))) {
      throw invalid(named, '"aliases" must be an array of strings');
    }
    const aliases = [id, ...((record.aliases as string[] | undefined) ?? [])];
    if (!Array.isArray(record.affected)) throw invalid(named, `expected "affected" to be an array, found ${typeof record.affected}`);
    const severity = osvSeverity(record);
    let matched = false;
    record.affected.forEach((affected, a) => {
      const path = `${named} affected[${a}]`;
      if (!isObject(affected) || !isObject(affected.package)) throw invalid(path, 'expected an object with a "package"');
      const { ecosystem: eco, name } = affected.package as Record<string, unknown>;
      if (typeof eco !== 'string' || typeof name !== 'string') throw invalid(`${path}.package`, 'expected string "ecosystem" and "name"');
      if (eco !== ecosystem) return;
      matched = true;
      const ranges: AffectedRange[] = [];
      let fixed: string | undefined;
      if (affected.ranges !== undefined && !Array.isArray(affected.ranges)) throw invalid(`${path}.ranges`, 'expected an array');
      ((affected.ranges as unknown[] | undefined) ?? []).forEach((range, g) => {
        const rp = `${path}.ranges[${g}]`;
        if (!isObject(range) || typeof range.type !== 'string' || !Array.isArray(range.events)) throw invalid(rp, 'expected {type, events[]}');
        if (range.type !== 'ECOSYSTEM') return; // GIT/SEMVER ranges say nothing about Debian versions
        let open: AffectedRange | undefined;
        range.events.forEach((event, e) => {
          if (!isObject(event)) throw invalid(`${rp}.events[${e}]`, 'expected an object');
          const [kind, version] = Object.entries(event)[0] ?? [];
          if (typeof version !== 'string') throw invalid(`${rp}.events[${e}]`, 'expected one of introduced/fixed/last_affected with a string version');
          if (kind === 'introduced') {
            if (open) ranges.push(open);
            open = { introduced: version };
          } else if (kind === 'fixed' || kind === 'last_affected') {
            const r = open ?? {};
            if (kind === 'fixed') {
              r.fixed = version;
              fixed ??= version;
            } else r.lastAffected = version;
            ranges.push(r);
            open = undefined;
          } else if (kind !== 'limit') throw invalid(`${rp}.events[${e}]`, `unknown event "${String(kind)}"`);
        });
        if (open) ranges.push(open);
      });
      if (affected.versions !== undefined && (!Array.isArray(affected.versions) || affected.versions.some((v) => typeof v !== 'string'))) {
        throw invalid(`${path}.versions`, 'expected an array of strings');
      }
      out.advisories.push({
        id: cveOf(aliases) ?? id,
        aliases,
        source: name,
        ranges,
        versions: (affected.versions as string[] | undefined) ?? [],
        fixed,
        severity: severity ?? (isObject(affected.ecosystem_specific) && typeof affected.ecosystem_specific.urgency === 'string' ? affected.ecosystem_specific.urgency : undefined),
        feed: 'osv',
        where: named,
      });
    });
    if (!matched) out.skipped++;
  });
  return out;
}

function osvSeverity(record: Record<string, unknown>): string | undefined {
  if (isObject(record.database_specific) && typeof record.database_specific.severity === 'string') return record.database_specific.severity;
  if (Array.isArray(record.severity)) {
    const first = record.severity.find((s) => isObject(s) && typeof s.score === 'string') as { type?: string; score: string } | undefined;
    if (first) return `${first.type ?? ''} ${first.score}`.trim();
  }
  return undefined;
}

/**
 * The Debian Security Tracker's JSON: `{source: {CVE: {releases: {codename: {status, fixed_version, urgency}}}}}`.
 * `fixed_version` "0" means the release was never affected; `status` "open"/"undetermined" without a fixed
 * version means every version is.
 */
export function parseTracker(text: string, where: string, codename: string): FeedParse {
  const value = parseJson(text, where);
  if (!isObject(value)) throw invalid(where, 'expected an object of source packages');
  const out: FeedParse = { advisories: [], skipped: 0 };
  for (const [source, cves] of Object.entries(value)) {
    if (!isObject(cves)) throw invalid(`${where} ${source}`, 'expected an object of CVE ids');
    for (const [cve, entry] of Object.entries(cves)) {
      const path = `${where} ${source}.${cve}`;
      if (!isObject(entry) || !isObject(entry.releases)) throw invalid(path, 'expected an object with "releases"');
      const release = entry.releases[codename];
      if (release === undefined) {
        out.skipped++;
        continue;
      }
      if (!isObject(release) || typeof release.status !== 'string') throw invalid(`${path}.releases.${codename}`, 'expected {status, fixed_version?, urgency?}');
      const fixedVersion = release.fixed_version;
      if (fixedVersion !== undefined && typeof fixedVersion !== 'string') throw invalid(`${path}.releases.${codename}.fixed_version`, `expected a string, found ${typeof fixedVersion}`);
      if (fixedVersion === '0' || release.status === 'not-affected') {
        out.skipped++;
        continue;
      }
      const urgency = typeof release.urgency === 'string' ? release.urgency : undefined;
      out.advisories.push({
        id: cve,
        aliases: [cve],
        source,
        ranges: [fixedVersion ? { fixed: fixedVersion } : {}],
        versions: [],
        fixed: fixedVersion || undefined,
        severity: urgency,
        feed: 'tracker',
        where: path,
      });
    }
  }
  return out;
}

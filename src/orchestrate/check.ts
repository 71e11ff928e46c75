/**
 * `pith check`: for every locked package of one image or a fleet, the newer candidates the (freshly verified)
 * archive serves and the suite they come from, marked security when that suite is a security suite; each update
 * explained from the new package's own changelog; and the advisories (OSV, Debian Security Tracker) that affect
 * what is installed, with whether the fix is in the configured suites now.
 */
import { readDeb } from '../debian/deb.ts';
import type { Archive } from '../debian/archive.ts';
import type { BinaryPackage, SourcedPackage } from '../debian/packages.ts';
import { compareVersions } from '../debian/version.ts';
import { loadSpec, type LoadedSpec } from '../config/spec.ts';
import { fetchDebs } from '../fetch/debs.ts';
import { highest, lockDrift, lockedPackage, lockToRead, packagesByName, readLock, type LockedPackage, type LockFile } from '../lock/lock.ts';
import type { ArchiveAccess } from './archive.ts';
import { loadAdvisories, type AdvisorySet } from '../advisories/load.ts';
import { AdvisoryIndex, affects } from '../advisories/match.ts';
import type { Advisory } from '../advisories/feeds.ts';
import { debianRelease, type DebianRelease } from '../advisories/release.ts';
import { debChangelog, entriesBetween, highestUrgency, parseChangelog, type ChangelogEntry } from '../debian/changelog.ts';
import { fleetArchives } from './fleet.ts';
import { shardSpecs } from './plan.ts';
import type { Shard } from './shard.ts';

export interface PackageUpdate {
  architecture: string;
  name: string;
  source: string;
  locked: string;
  lockedSourceVersion: string;
  candidate: string;
  candidateSourceVersion: string;
  /** The configured suite serving the candidate. */
  suite: string;
  /** The candidate comes from a security suite (by its Release Label, Suite or Codename). */
  security: boolean;
  /** The new package's changelog entries after the locked version, newest first; absent when it ships none. */
  changelog?: ChangelogEntry[];
  /** CVE ids the changelog entries name. */
  cves: string[];
  urgency?: string;
  /** Why there is no changelog. */
  changelogMissing?: string;
}

export interface Finding {
  /** CVE id (or the advisory's own id when it has no CVE alias). */
  id: string;
  aliases: string[];
  feeds: Array<'osv' | 'tracker'>;
  architecture: string;
  package: string;
  source: string;
  installed: string;
  sourceVersion: string;
  fixed?: string;
  /** The configured suites serve a version of the package that is no longer affected. */
  fixAvailable: boolean;
  candidate?: string;
  suite?: string;
  severity?: string;
}

export interface ImageCheck {
  spec: string;
  name: string;
  lock: string;
  /** The advisory ecosystem and release this image is matched against (from its locked base-files). */
  release: DebianRelease;
  specChanges: string[];
  /** Locked versions the archive no longer serves, or serves with other bytes. */
  problems: string[];
  updates: PackageUpdate[];
  findings: Finding[];
}

export interface FleetCheck {
  images: ImageCheck[];
  advisories: {
    /** Records read for the images' releases. */
    records: number;
    /** Records for another ecosystem or release, or marking the release not affected. */
    skipped: number;
    /** Records naming a source package no checked image contains: ignored, counted. */
    unknownPackage: number;
    sources: AdvisorySet['sources'];
  };
  /** Something to do: any update, or any finding. */
  any: boolean;
  /** A security update is available, or an advisory's fix is. */
  security: boolean;
}

export interface CheckOptions extends ArchiveAccess {
  /** Advisory sources: files, directories, zips or URLs. */
  advisories?: string[];
  /** Read the new packages' changelogs (default true; downloads each candidate .deb, which `update` then reuses). */
  changelogs?: boolean;
  /** Only this shard of the fleet's specs (`--shard I/N`). */
  shard?: Shard;
}

/** The Debian release a lock pins, from its base-files version (`12.4+deb12u5` → Debian:12, bookworm). */
export function lockRelease(lockFile: LockFile): DebianRelease {
  for (const arch of Object.values(lockFile.architectures)) {
    const base = arch.baseFiles ?? arch.packages.find((p) => p.name === 'base-files');
    const release = base && debianRelease({ version: base.version });
    if (release) return release;
  }
  // Without base-files, the codename of a release suite (not bookworm-updates or bookworm-security).
  const codename = lockFile.sources.map((s) => s.codename).find((c) => c && !c.includes('-'));
  return debianRelease({ codename }) ?? { ecosystem: 'Debian', codename: 'unknown' };
}

export function isSecurityOrigin(p: Pick<BinaryPackage, 'origin'>): boolean {
  const o = p.origin;
  return /security/i.test(o.label ?? '') || /-security$/.test(o.suite) || /-security$/.test(o.codename ?? '');
}

/** Checks a fleet: every spec named or found under the given paths. */
export async function check(paths: string[], options: CheckOptions = {}): Promise<FleetCheck> {
  const specs = shardSpecs(paths, options.shard);
  const advisorySets = new Map<string, Promise<AdvisorySet>>();
  const archiveFor = fleetArchives(options);
  const images: ImageCheck[] = [];
  const installedSources = new Set<string>();
  const used = new Set<string>();
  for (const specPath of specs) {
    const loaded = loadSpec(specPath);
    const lockFile = readLock(lockToRead(loaded));
    const release = lockRelease(lockFile);
    const key = `${release.ecosystem} ${release.codename}`;
    if (!advisorySets.has(key)) advisorySets.set(key, loadAdvisories(options.advisories ?? [], { ...release, cacheDir: options.cacheDir, offline: options.offline, onWarning: (m) => options.onEvent?.({ kind: 'warning', message: m }) }));
    used.add(key);
    const set = await advisorySets.get(key)!;
    const archive = await archiveFor(loaded, lockFile);
    const image = await checkImage(loaded, lockFile, archive, indexFor(set), options);
    for (const arch of Object.values(lockFile.architectures)) for (const p of arch.packages) installedSources.add(p.source);
    images.push(image);
  }
  const sets = await Promise.all([...used].map((k) => advisorySets.get(k)!));
  const all = sets.flatMap((s) => s.advisories);
  return {
    images,
    advisories: {
      records: all.length,
      skipped: sets.reduce((n, s) => n + s.skipped, 0),
      unknownPackage: all.filter((a) => !installedSources.has(a.source)).length,
      sources: sets.flatMap((s) => s.sources),
    },
    any: images.some((i) => i.updates.length > 0 || i.findings.length > 0 || i.problems.length > 0 || i.specChanges.length > 0),
    security: images.some((i) => i.updates.some((u) => u.security) || i.findings.some((f) => f.fixAvailable)),
  };
}

const indexes = new WeakMap<AdvisorySet, AdvisoryIndex>();
function indexFor(set: AdvisorySet): AdvisoryIndex {
  let index = indexes.get(set);
  if (!index) indexes.set(set, (index = new AdvisoryIndex(set.advisories)));
  return index;
}

/** One image: its lock against an open archive and an advisory index. */
export async function checkImage(specFile: string | LoadedSpec, lockFile: LockFile, archive: Archive, advisories: AdvisoryIndex, options: CheckOptions = {}): Promise<ImageCheck> {
  const loaded = typeof specFile === 'string' ? loadSpec(specFile) : specFile;
  const drift = lockDrift(loaded, lockFile, archive, options.sources);
  const updates: PackageUpdate[] = [];
  const findings: Finding[] = [];
  const toRead: Array<{ update: PackageUpdate; pkg: LockedPackage }> = [];
  for (const [arch, { packages }] of Object.entries(lockFile.architectures)) {
    const byName = packagesByName(archive, arch);
    for (const locked of packages) {
      const served = (byName.get(locked.name) ?? []).filter((p) => p.architecture === locked.architecture);
      const best = highest(served);
      if (best && compareVersions(best.version, locked.version) > 0) {
        const update: PackageUpdate = {
          architecture: arch,
          name: locked.name,
          source: locked.source,
          locked: locked.version,
          lockedSourceVersion: locked.sourceVersion,
          candidate: best.version,
          candidateSourceVersion: best.sourceVersion,
          suite: best.origin.suite,
          security: isSecurityOrigin(best),
          cves: [],
        };
        updates.push(update);
        toRead.push({ update, pkg: lockedPackage(best) });
      }
      findings.push(...packageFindings(locked, arch, advisories, served));
    }
  }
  if (options.changelogs !== false && toRead.length > 0) await readChangelogs(lockFile, archive, toRead, options);
  return {
    spec: loaded.path,
    name: loaded.spec.name,
    lock: drift.path,
    release: lockRelease(lockFile),
    specChanges: drift.specChanges,
    problems: drift.drift.filter((d) => d.kind !== 'newer').map((d) => `${d.architecture}: ${d.detail}`),
    updates,
    findings,
  };
}

/**
 * The advisories affecting one installed package, one finding per advisory id (the records of several feeds
 * merged), each saying whether `served` — the archive's versions of the package for its architecture — holds a
 * newer version the advisory no longer affects. `pith check` asks it for every locked package, `pith serve` for every
 * package of every image, locked or read from a registry.
 */
export function packageFindings(installed: SourcedPackage, architecture: string, advisories: AdvisoryIndex, served: readonly BinaryPackage[]): Finding[] {
  const byId = new Map<string, Finding>();
  for (const advisory of advisories.affecting(installed.source, installed.sourceVersion)) {
    const seen = byId.get(advisory.id);
    if (seen) {
      mergeFinding(seen, advisory);
      continue;
    }
    const fix = highest(served.filter((p) => compareVersions(p.version, installed.version) > 0 && !affects(advisory, p.sourceVersion)));
    byId.set(advisory.id, {
      id: advisory.id,
      aliases: [...advisory.aliases],
      feeds: [advisory.feed],
      architecture,
      package: installed.name,
      source: installed.source,
      installed: installed.version,
      sourceVersion: installed.sourceVersion,
      fixed: advisory.fixed,
      fixAvailable: fix !== undefined,
      candidate: fix?.version,
      suite: fix?.origin.suite,
      severity: advisory.severity,
    });
  }
  return [...byId.values()];
}

function mergeFinding(finding: Finding, advisory: Advisory): void {
  if (!finding.feeds.includes(advisory.feed)) finding.feeds.push(advisory.feed);
  for (const a of advisory.aliases) if (!finding.aliases.includes(a)) finding.aliases.push(a);
  finding.fixed ??= advisory.fixed;
  if (advisory.severity && finding.severity !== advisory.severity) finding.severity = finding.severity ? `${finding.severity}, ${advisory.severity}` : advisory.severity;
}

/** Downloads (verified, cached) each candidate .deb and reads its changelog between the locked and new versions. */
async function readChangelogs(lockFile: LockFile, archive: Archive, toRead: Array<{ update: PackageUpdate; pkg: LockedPackage }>, options: CheckOptions): Promise<void> {
  // The candidates come from the archive just verified, so its releases say where each suite lives.
  const fromArchive: LockFile = { ...lockFile, sources: archive.releases.map((r) => ({ ...r })) };
  const fetched = await fetchDebs(fromArchive, toRead.map((t) => t.pkg), { cacheDir: options.cacheDir, offline: options.offline, onEvent: options.onEvent });
  for (let i = 0; i < toRead.length; i++) {
    const { update, pkg } = toRead[i]!;
    const deb = await readDeb(fetched[i]!.bytes, `${pkg.name}_${pkg.version}_${pkg.architecture}.deb`);
    const text = debChangelog(deb, pkg.name);
    if (text === undefined) {
      update.changelogMissing = `${pkg.name} ${pkg.version} ships no /usr/share/doc/${pkg.name}/changelog.Debian.gz`;
      continue;
    }
    // Changelog versions are source versions; a binNMU's binary version is not in them.
    const entries = entriesBetween(parseChangelog(text), update.lockedSourceVersion, update.candidateSourceVersion);
    update.changelog = entries;
    update.cves = [...new Set(entries.flatMap((e) => e.cves))];
    update.urgency = highestUrgency(entries);
  }
}

import { existsSync, readFileSync } from 'node:fs';
import { arch as nodeArch } from 'node:process';
import { basename, dirname, join } from 'node:path';
import { removeStaleTemps, writeFileAtomic, sha256Hex } from '../cache/store.ts';
import type { LoadedSpec, Spec } from '../config/spec.ts';
import { isPithError, PithError } from '../errors.ts';
import { canonicalJson } from '../json.ts';
import { compareStrings } from '../order.ts';
import type { Archive, SuiteRelease } from '../debian/archive.ts';
import { PackageUniverse, resolve, type Resolution } from '../debian/resolve.ts';
import type { SnapshotPin } from '../debian/snapshot.ts';
import type { SourceEntry } from '../debian/sources.ts';
import { pinnedPackage, type BinaryPackage, type PinnedPackage } from '../debian/packages.ts';
import { compareVersions } from '../debian/version.ts';
import { minimalDefaults } from './minimal.ts';
import { lockLibraries, lockedNeedsChanges, type LockedLibraries } from '../libraries/closure.ts';
import { readSpecFiles } from '../config/files.ts';
import type { FsEntry } from '../fs/entry.ts';

export const LOCK_VERSION = 1;

export interface LockedPackage extends PinnedPackage {
  /** The configured suite the package was taken from (one of `sources[].suite`). */
  suite: string;
  /**
   * The first snapshot archive that served this `.deb`, recorded when a snapshot service is configured, so the lock
   * rebuilds bit for bit after the live archive dropped the version.
   */
  snapshot?: SnapshotPin;
}

export interface LockedExclusion {
  name: string;
  reason: string;
  requiredBy: string[];
  alsoDropped: string[];
}

/** What in the spec decides the resolution. Its digest is the lock's spec digest; other fields (cmd, env…) don't. */
export interface LockInputs {
  packages: string[];
  exclude: Array<{ name: string; reason?: string }>;
  keep: string[];
  architectures: string[];
  sources: Array<{ uri: string; suites: string[]; components: string[]; architectures?: string[]; signedBy?: string }> | 'apt';
  /** The spec's `libraries:` when not the default `auto` (absent for auto, so older locks keep their digest). */
  libraries?: 'check' | 'off';
}

export interface LockedArchitecture {
  packages: LockedPackage[];
  excluded: LockedExclusion[];
  /**
   * The archive's base-files, pinned even when the image does not install it: the build takes /etc/os-release
   * and /etc/debian_version from it, which scanners need to know the image is Debian and which release.
   */
  baseFiles?: LockedPackage;
  /** With `libraries: auto`: what the spec's ELF files need, and which package meets each need (and was added). */
  libraries?: LockedLibraries;
}

export interface LockFile {
  lockVersion: number;
  spec: { digest: string; inputs: LockInputs };
  sources: Array<Omit<SuiteRelease, 'components' | 'signer'> & { components: string[]; signer: string }>;
  architectures: Record<string, LockedArchitecture>;
}

/** Debian's name for the machine pith runs on. */
export function hostArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', ia32: 'i386', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' };
  return map[nodeArch] ?? nodeArch;
}

/** Where a spec's lock is written: beside it, named after it (`two.yaml` → `two.lock`, `pith.yaml` → `pith.lock`). */
export function lockPathFor(specPath: string): string {
  return join(dirname(specPath), `${basename(specPath).replace(/\.ya?ml$/, '')}.lock`);
}

/** The name every lock had before locks were named after their spec. */
const LEGACY_LOCK = 'pith.lock';

/**
 * The lock to read for a spec: its own (`lockPathFor`), else — for a spec other than pith.yaml whose own lock does not
 * exist yet — a `pith.lock` beside it written before locks were named after their spec, but only when no pith.yaml
 * there owns that file and it was made from exactly this spec; so two specs in one directory never share a lock.
 */
export function lockToRead(loaded: LoadedSpec): string {
  const own = lockPathFor(loaded.path);
  if (existsSync(own) || basename(own) === LEGACY_LOCK) return own;
  const legacy = join(loaded.dir, LEGACY_LOCK);
  if (!existsSync(legacy) || ['pith.yaml', 'pith.yml'].some((n) => existsSync(join(loaded.dir, n)))) return own;
  try {
    return readLock(legacy).spec.digest === inputsDigest(lockInputs(loaded.spec)) ? legacy : own;
  } catch {
    return own;
  }
}

export function lockInputs(spec: Spec, sourcesOverride?: SourceEntry[]): LockInputs {
  const recorded = sourcesOverride?.length ? sourcesOverride : specArchiveSources(spec);
  return {
    packages: spec.packages,
    exclude: (spec.exclude ?? []).map((e) => ({ name: e.name, reason: e.reason })),
    keep: spec.keep ?? [],
    architectures: spec.architectures ?? [hostArchitecture()],
    sources: recorded?.map((s) => ({ uri: s.uri, suites: s.suites, components: s.components, architectures: s.architectures, signedBy: s.signedBy })) ?? 'apt',
    libraries: spec.libraries === 'check' || spec.libraries === 'off' ? spec.libraries : undefined,
  };
}

/** The spec's own `archive.sources` as source entries (undefined when the spec leaves the archive to the machine). */
export function specArchiveSources(spec: Spec): SourceEntry[] | undefined {
  return spec.archive?.sources?.map((s, i) => ({
    uri: s.uri.replace(/\/+$/, ''),
    suites: s.suites,
    components: s.components,
    architectures: s.architectures,
    signedBy: s['signed-by'] ?? spec.archive?.keyring,
    where: `archive.sources[${i}]`,
  }));
}

export function inputsDigest(inputs: LockInputs): string {
  return `sha256:${sha256Hex(canonicalJson(inputs))}`;
}

/** What resolving a spec needs besides the spec and its open archive. */
export interface ResolveLockOptions {
  /** `--source` entries the archive was opened with: the lock records them as its sources input. */
  sources?: SourceEntry[];
  /** Per architecture, packages offered only at the given version (the minimal bump of `pith update`). */
  pins?: Record<string, ReadonlyMap<string, string>>;
  /** The spec's `files:` already read (`readSpecFiles`), so a caller that needs them too reads them once. */
  specFiles?: FsEntry[];
}

/**
 * Resolves a spec against its open archive into a lock (written by the caller): apt's closure per architecture,
 * minus what pith leaves out by default, plus the packages the spec's own binaries need.
 */
export async function resolveLock(loaded: LoadedSpec, archive: Archive, options: ResolveLockOptions = {}): Promise<{ lock: LockFile; resolutions: Resolution[] }> {
  const inputs = lockInputs(loaded.spec, options.sources);
  const defaults = minimalDefaults(inputs.packages, inputs.keep);
  const specExcludes = inputs.exclude.map((e) => ({ name: e.name, reason: e.reason ?? 'excluded by the spec' }));
  const offered = (arch: string) => {
    const pin = options.pins?.[arch];
    return pin ? archive.packages(arch).filter((p) => { const v = pin.get(p.name); return v === undefined || v === p.version; }) : archive.packages(arch);
  };
  const universes = new Map<string, PackageUniverse>();
  const universeFor = (arch: string) => {
    if (!options.pins?.[arch]) return archive.universe(arch);
    let u = universes.get(arch);
    if (!u) universes.set(arch, (u = new PackageUniverse(offered(arch), { architecture: arch })));
    return u;
  };
  const resolveFor = (arch: string, extra: string[]) => {
    try {
      return resolve(universeFor(arch), [...inputs.packages, ...extra], {
        architecture: arch,
        exclude: [...specExcludes, ...defaults.exclude.filter((d) => !specExcludes.some((e) => e.name === d.name))],
        ignoreDependencies: defaults.ignoreDependencies,
      });
    } catch (e) {
      throw isPithError(e, 'UNKNOWN_PACKAGE') ? placedUnknownPackage(e, loaded, archive, arch) : e;
    }
  };
  // libraries: auto — the packages that ship what the spec's own binaries need join the resolution.
  const libraryFiles = inputs.libraries === undefined ? (options.specFiles ?? readSpecFiles(loaded, 0)) : [];
  const libraries = new Map<string, LockedLibraries>();
  const resolutions: Resolution[] = [];
  for (const arch of inputs.architectures) {
    const closed = await lockLibraries({
      files: libraryFiles,
      architecture: arch,
      resolution: resolveFor(arch, []),
      resolveWith: (extra) => resolveFor(arch, extra),
      available: archive.packages(arch).map((p) => p.name),
      contents: () => archive.contents(arch),
    });
    if (closed.libraries) libraries.set(arch, closed.libraries);
    resolutions.push(closed.resolution);
  }
  const lockFile: LockFile = {
    lockVersion: LOCK_VERSION,
    spec: { digest: inputsDigest(inputs), inputs },
    sources: archive.releases.map((r) => ({ ...r })),
    architectures: Object.fromEntries(
      resolutions.map((res) => [
        res.architecture,
        {
          packages: res.packages.map((p) => lockedPackage(p.package)),
          excluded: res.exclusions.map((e) => ({ name: e.name, reason: e.reason, requiredBy: e.requiredBy, alsoDropped: e.alsoDropped })),
          baseFiles: candidateOf(offered(res.architecture), 'base-files'),
          libraries: libraries.get(res.architecture),
        },
      ]),
    ),
  };
  return { lock: lockFile, resolutions };
}

/** The resolver's unknown-package error, told where the spec asks for it and what was searched. */
function placedUnknownPackage(e: PithError, loaded: LoadedSpec, archive: Archive, arch: string): PithError {
  const name = e.details?.name;
  const i = loaded.spec.packages.findIndex((p) => p.split(/[:=]/)[0] === name);
  const place = loaded.at?.(['packages', i]) ?? loaded.path;
  const suites = [...new Set(archive.releases.map((r) => r.suite))].join(', ');
  return new PithError('UNKNOWN_PACKAGE', `${place}: ${e.message} (searched suites ${suites} for ${arch})`, { cause: e, details: { ...e.details, place, suites: archive.releases.map((r) => r.suite), architecture: arch } });
}

/** How the lock records a package the archive serves. */
export function lockedPackage(p: BinaryPackage): LockedPackage {
  return { ...pinnedPackage(p), suite: p.origin.suite };
}

/** The entry with the highest version (apt's candidate among them); undefined for none. */
export function highest<T extends { version: string }>(list: Iterable<T>): T | undefined {
  let best: T | undefined;
  for (const p of list) if (best === undefined || compareVersions(p.version, best.version) > 0) best = p;
  return best;
}

/** The highest version of `name` the archive serves; undefined when it serves none. */
function candidateOf(packages: BinaryPackage[], name: string): LockedPackage | undefined {
  const best = highest(packages.filter((p) => p.name === name));
  return best && lockedPackage(best);
}

export async function writeLock(path: string, lockFile: LockFile): Promise<void> {
  await removeStaleTemps(dirname(path), basename(path)); // what a killed pith left beside the lock
  await writeFileAtomic(path, canonicalJson(lockFile));
}

/** Reads a lock, refusing files that are not pith locks of a version this pith understands. */
export function readLock(path: string): LockFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PithError('LOCK_NOT_FOUND', `${path}: cannot read the lock (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); run "pith lock" first`);
  }
  let value: LockFile;
  try {
    value = JSON.parse(text) as LockFile;
  } catch (e) {
    throw new PithError('LOCK_INVALID', `${path}: expected JSON, ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || value.lockVersion !== LOCK_VERSION || !value.spec?.digest || typeof value.architectures !== 'object') {
    throw new PithError('LOCK_INVALID', `${path}: expected a pith lock (lockVersion ${LOCK_VERSION}), found ${value === null || typeof value !== 'object' ? typeof value : `lockVersion ${String((value as LockFile).lockVersion)}`}`);
  }
  return value;
}

/** Human-readable differences between the inputs a lock was made from and a spec's current inputs. */
export function specChanges(locked: LockInputs, current: LockInputs): string[] {
  const changes: string[] = [];
  const listDiff = (what: string, a: string[], b: string[]) => {
    const added = b.filter((x) => !a.includes(x));
    const removed = a.filter((x) => !b.includes(x));
    if (added.length) changes.push(`${what} added: ${added.join(', ')}`);
    if (removed.length) changes.push(`${what} removed: ${removed.join(', ')}`);
  };
  listDiff('packages', locked.packages, current.packages);
  listDiff('exclude', locked.exclude.map((e) => e.name), current.exclude.map((e) => e.name));
  listDiff('keep', locked.keep, current.keep);
  listDiff('architectures', locked.architectures, current.architectures);
  const describe = (s: LockInputs['sources']) => (s === 'apt' ? ["the machine's apt sources"] : s.map((x) => `${x.uri} ${x.suites.join(',')} ${x.components.join(',')}`));
  if (canonicalJson(locked.sources) !== canonicalJson(current.sources)) listDiff('sources', describe(locked.sources), describe(current.sources));
  if (locked.libraries !== current.libraries) changes.push(`libraries: ${locked.libraries ?? 'auto'} → ${current.libraries ?? 'auto'}`);
  if (changes.length === 0 && canonicalJson(locked) !== canonicalJson(current)) changes.push('exclusion reasons, source keyrings or architectures filters changed');
  return changes;
}

/** Loads the lock next to a spec and checks it still belongs to the spec; a changed spec is an error naming what changed. */
export function loadLockFor(loaded: LoadedSpec, lockPath = lockToRead(loaded), sourcesOverride?: SourceEntry[], specFiles?: FsEntry[]): LockFile {
  const lockFile = readLock(lockPath);
  const current = lockInputs(loaded.spec, sourcesOverride);
  const changes = lockFile.spec.digest !== inputsDigest(current) ? specChanges(lockFile.spec.inputs, current) : libraryChanges(loaded, lockFile, current, specFiles);
  if (changes.length > 0) {
    throw new PithError(
      'LOCK_STALE',
      `${lockPath}: the lock was made from a different spec; ${loaded.path} changed since:\n${changes.map((c) => `  - ${c}`).join('\n')}\nRun "pith lock ${loaded.path}" to re-lock.`,
      { details: { changes } },
    );
  }
  return lockFile;
}

/** With `libraries: auto`, the spec's binaries' changed library needs, which the lock's resolution depends on. */
function libraryChanges(loaded: LoadedSpec, lockFile: LockFile, current: LockInputs, specFiles?: FsEntry[]): string[] {
  if (current.libraries !== undefined) return [];
  return lockedNeedsChanges(specFiles ?? readSpecFiles(loaded, 0), lockFile.architectures).map((c) => `libraries: ${c}`);
}

export interface Drift {
  architecture: string;
  name: string;
  locked: string;
  kind: 'gone' | 'newer' | 'changed';
  /** For `newer`: the candidate version and the suite serving it. */
  candidate?: string;
  suite?: string;
  detail: string;
}

export interface LockCheck {
  path: string;
  specChanges: string[];
  drift: Drift[];
  /** True when nothing needs doing. */
  clean: boolean;
}

/**
 * `pith lock --check`: writes nothing; reports a changed spec, locked versions the archive no longer serves
 * (or serves with different bytes), and newer candidates with the suite they come from.
 */
const byNameCache = new WeakMap<Archive, Map<string, Map<string, BinaryPackage[]>>>();

/**
 * The archive's packages for `arch` by name, built once per open archive: checking a fleet looks up every locked
 * package of every image in the same (possibly 60,000-package) universe.
 */
export function packagesByName(archive: Archive, arch: string): ReadonlyMap<string, BinaryPackage[]> {
  let perArch = byNameCache.get(archive);
  if (!perArch) byNameCache.set(archive, (perArch = new Map()));
  let byName = perArch.get(arch);
  if (!byName) {
    perArch.set(arch, (byName = new Map()));
    for (const p of archive.packages(arch)) {
      let list = byName.get(p.name);
      if (!list) byName.set(p.name, (list = []));
      list.push(p);
    }
  }
  return byName;
}

/** A lock against its spec (what changed) and its open archive (versions gone, changed or superseded). */
export function lockDrift(loaded: LoadedSpec, lockFile: LockFile, archive: Archive, sourcesOverride?: SourceEntry[]): LockCheck {
  const path = lockToRead(loaded);
  const current = lockInputs(loaded.spec, sourcesOverride);
  const changes = lockFile.spec.digest === inputsDigest(current) ? libraryChanges(loaded, lockFile, current) : specChanges(lockFile.spec.inputs, current);
  const drift: Drift[] = [];
  for (const [arch, { packages }] of Object.entries(lockFile.architectures)) {
    const byName = packagesByName(archive, arch);
    for (const locked of packages) {
      const served = (byName.get(locked.name) ?? []).filter((p) => p.architecture === locked.architecture);
      const same = served.find((p) => p.version === locked.version);
      if (!same) {
        drift.push({ architecture: arch, name: locked.name, locked: locked.version, kind: 'gone', detail: `${locked.name} ${locked.version} is no longer served by the configured suites` });
      } else if (same.sha256 !== locked.sha256) {
        drift.push({ architecture: arch, name: locked.name, locked: locked.version, kind: 'changed', detail: `${locked.name} ${locked.version} is served with SHA256 ${same.sha256}, locked ${locked.sha256}` });
      }
      const best = highest(served);
      if (best && compareVersions(best.version, locked.version) > 0) {
        drift.push({
          architecture: arch,
          name: locked.name,
          locked: locked.version,
          kind: 'newer',
          candidate: best.version,
          suite: best.origin.suite,
          detail: `${locked.name} ${locked.version} → ${best.version} (from ${best.origin.suite})`,
        });
      }
    }
  }
  return { path, specChanges: changes, drift, clean: changes.length === 0 && drift.length === 0 };
}

/** A package that moved between two locks: added (no `from`), removed (no `to`) or at another version. */
export interface PackageChange {
  architecture: string;
  name: string;
  from?: string;
  to?: string;
}

/** What moved between two locks, per architecture, by package name. */
export function lockChanges(a: LockFile, b: LockFile): PackageChange[] {
  const changes: PackageChange[] = [];
  for (const arch of new Set([...Object.keys(a.architectures), ...Object.keys(b.architectures)])) {
    const pa = new Map((a.architectures[arch]?.packages ?? []).map((p) => [p.name, p.version]));
    const pb = new Map((b.architectures[arch]?.packages ?? []).map((p) => [p.name, p.version]));
    for (const name of [...new Set([...pa.keys(), ...pb.keys()])].sort(compareStrings)) {
      if (pa.get(name) !== pb.get(name)) changes.push({ architecture: arch, name, from: pa.get(name), to: pb.get(name) });
    }
  }
  return changes;
}


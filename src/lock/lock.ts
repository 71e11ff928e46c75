import { readFileSync } from 'node:fs';
import { arch as nodeArch } from 'node:process';
import { basename, dirname, join } from 'node:path';
import { removeStaleTemps, writeFileAtomic, sha256Hex } from '../cache/store.ts';
import { loadSpec, type LoadedSpec, type Spec } from '../config/spec.ts';
import { PithError } from '../errors.ts';
import { canonicalJson } from '../json.ts';
import { DEFAULT_KEYRING, openArchive, type Archive, type ArchiveEvent, type SuiteRelease } from '../debian/archive.ts';
import { PackageUniverse, resolve, type Resolution } from '../debian/resolve.ts';
import { loadAptSources, type SourceEntry } from '../debian/sources.ts';
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

export function lockPathFor(specPath: string): string {
  return join(dirname(specPath), 'pith.lock');
}

export function lockInputs(spec: Spec, sourcesOverride?: SourceEntry[]): LockInputs {
  const specSources = spec.archive?.sources?.map((s) => ({
    uri: s.uri.replace(/\/+$/, ''),
    suites: s.suites,
    components: s.components,
    architectures: s.architectures,
    signedBy: s['signed-by'] ?? spec.archive?.keyring,
  }));
  const overridden = sourcesOverride?.map((s) => ({
    uri: s.uri,
    suites: s.suites,
    components: s.components,
    architectures: s.architectures,
    signedBy: s.signedBy,
  }));
  return {
    packages: spec.packages,
    exclude: (spec.exclude ?? []).map((e) => ({ name: e.name, reason: e.reason })),
    keep: spec.keep ?? [],
    architectures: spec.architectures ?? [hostArchitecture()],
    sources: overridden ?? specSources ?? 'apt',
    libraries: spec.libraries === 'check' || spec.libraries === 'off' ? spec.libraries : undefined,
  };
}

export function inputsDigest(inputs: LockInputs): string {
  return `sha256:${sha256Hex(canonicalJson(inputs))}`;
}

/** The archive sources a spec resolves against: `--source` flags, else the spec's, else the machine's apt sources. */
export function specSources(spec: Spec, override?: SourceEntry[], onWarning?: (message: string) => void): SourceEntry[] {
  if (override && override.length > 0) return override;
  if (spec.archive?.sources) {
    return spec.archive.sources.map((s, i) => ({
      uri: s.uri.replace(/\/+$/, ''),
      suites: s.suites,
      components: s.components,
      architectures: s.architectures,
      signedBy: s['signed-by'] ?? spec.archive?.keyring,
      where: `archive.sources[${i}]`,
    }));
  }
  const fromApt = loadAptSources({ onWarning });
  const keyring = spec.archive?.keyring;
  return keyring ? fromApt.map((s) => ({ ...s, signedBy: s.signedBy ?? keyring })) : fromApt;
}

const warnTo = (onEvent?: (event: ArchiveEvent) => void) => (message: string) => onEvent?.({ kind: 'warning', message });

export interface LockOptions {
  /** `--source` entries; they replace the spec's and the machine's sources. */
  sources?: SourceEntry[];
  cacheDir?: string;
  offline?: boolean;
  now?: Date;
  onEvent?: (event: ArchiveEvent) => void;
  /** Write `pith.lock` next to the spec (default true). */
  write?: boolean;
  /** An archive already opened for this spec (as `openLockArchive` does). */
  archive?: Archive;
  /** Per architecture, packages offered only at the given version (the minimal bump of `pith update`). */
  pins?: Record<string, ReadonlyMap<string, string>>;
  /** The spec's `files:` already read (`readSpecFiles`), so a caller that needs them too reads them once. */
  specFiles?: FsEntry[];
}

export interface LockResult {
  lock: LockFile;
  /** Where the lock was (or would be) written. */
  path: string;
  written: boolean;
  resolutions: Resolution[];
  archive: Archive;
}

/** Resolves a spec against the archive and writes its lock atomically. */
export async function lock(specFile: string | LoadedSpec, options: LockOptions = {}): Promise<LockResult> {
  const loaded = typeof specFile === 'string' ? loadSpec(specFile) : specFile;
  const { spec } = loaded;
  const inputs = lockInputs(spec, options.sources);
  const archive = options.archive ?? await openArchive({
    sources: specSources(spec, options.sources, warnTo(options.onEvent)),
    architectures: inputs.architectures,
    cacheDir: options.cacheDir,
    offline: options.offline,
    keyring: spec.archive?.keyring ?? DEFAULT_KEYRING,
    now: options.now,
    onEvent: options.onEvent,
  });
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
  const resolveFor = (arch: string, extra: string[]) =>
    resolve(universeFor(arch), [...inputs.packages, ...extra], {
      architecture: arch,
      exclude: [...specExcludes, ...defaults.exclude.filter((d) => !specExcludes.some((e) => e.name === d.name))],
      ignoreDependencies: defaults.ignoreDependencies,
    });
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
  const path = lockPathFor(loaded.path);
  const write = options.write ?? true;
  if (write) await writeLock(path, lockFile);
  return { lock: lockFile, path, written: write, resolutions, archive };
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
export function loadLockFor(loaded: LoadedSpec, lockPath = lockPathFor(loaded.path), sourcesOverride?: SourceEntry[], specFiles?: FsEntry[]): LockFile {
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

/** The archive a spec's lock is checked against: the spec's sources (or `--source`), for the lock's architectures. */
export function openLockArchive(loaded: LoadedSpec, lockFile: LockFile, options: Omit<LockOptions, 'write'> = {}): Promise<Archive> {
  return openArchive({
    sources: specSources(loaded.spec, options.sources, warnTo(options.onEvent)),
    architectures: Object.keys(lockFile.architectures),
    cacheDir: options.cacheDir,
    offline: options.offline,
    keyring: loaded.spec.archive?.keyring ?? DEFAULT_KEYRING,
    now: options.now,
    onEvent: options.onEvent,
  });
}

export async function checkLock(specFile: string | LoadedSpec, options: Omit<LockOptions, 'write' | 'pins'> & { lockFile?: LockFile } = {}): Promise<LockCheck> {
  const loaded = typeof specFile === 'string' ? loadSpec(specFile) : specFile;
  const path = lockPathFor(loaded.path);
  const lockFile = options.lockFile ?? readLock(path);
  const current = lockInputs(loaded.spec, options.sources);
  const changes = lockFile.spec.digest === inputsDigest(current) ? libraryChanges(loaded, lockFile, current) : specChanges(lockFile.spec.inputs, current);
  const archive = options.archive ?? (await openLockArchive(loaded, lockFile, options));
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

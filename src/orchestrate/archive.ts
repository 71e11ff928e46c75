/**
 * Opening a spec's archive: which sources (`--source`, else the spec's, else the machine's apt sources) and how
 * they are reached. The lock stage never opens an archive; it is handed one, so a fleet opens each distinct archive
 * once and every stage below gets only the values it needs.
 */
import type { LoadedSpec, Spec } from '../config/spec.ts';
import { DEFAULT_KEYRING, openArchive, type Archive, type ArchiveEvent } from '../debian/archive.ts';
import { findInSnapshot, snapshotBase } from '../debian/snapshot.ts';
import { loadAptSources, type SourceEntry } from '../debian/sources.ts';
import { forEachBounded } from '../net/bounded.ts';
import { specArchiveSources, type LockFile } from '../lock/lock.ts';

/** How an archive is reached: the few values opening it needs. */
export interface ArchiveAccess {
  /** `--source` entries; they replace the spec's and the machine's sources. */
  sources?: SourceEntry[];
  cacheDir?: string;
  offline?: boolean;
  /** The time InRelease dates are judged at (default now). */
  now?: Date;
  /** Downloads and warnings. */
  onEvent?: (event: ArchiveEvent) => void;
  /** `--snapshot`: base URL of a snapshot service; overrides the spec's `archive: snapshot:`. */
  snapshot?: string;
}

/** The archive sources a spec resolves against: `--source` flags, else the spec's, else the machine's apt sources. */
export function specSources(spec: Spec, override?: SourceEntry[], onWarning?: (message: string) => void): SourceEntry[] {
  if (override && override.length > 0) return override;
  const own = specArchiveSources(spec);
  if (own) return own;
  const fromApt = loadAptSources({ onWarning });
  const keyring = spec.archive?.keyring;
  return keyring ? fromApt.map((s) => ({ ...s, signedBy: s.signedBy ?? keyring })) : fromApt;
}

/** Opens and verifies the archive a spec names, for the given architectures. */
export function openSpecArchive(spec: Spec, architectures: string[], access: ArchiveAccess = {}): Promise<Archive> {
  const sources = specSources(spec, access.sources, (message) => access.onEvent?.({ kind: 'warning', message }));
  return openSourcesArchive(sources, architectures, access, spec.archive?.keyring);
}

/**
 * Opens and verifies an archive no spec names (`pith serve`'s, which says whether a fix is served): the given
 * sources, else the machine's apt sources; `keyring` for the sources whose entries name none.
 */
export function openSourcesArchive(sources: SourceEntry[] | undefined, architectures: string[], access: Omit<ArchiveAccess, 'sources'> = {}, keyring: string = DEFAULT_KEYRING): Promise<Archive> {
  return openArchive({
    sources: sources ?? loadAptSources({ onWarning: (message) => access.onEvent?.({ kind: 'warning', message }) }),
    architectures,
    cacheDir: access.cacheDir,
    offline: access.offline,
    keyring,
    now: access.now,
    onEvent: access.onEvent,
  });
}

/** The snapshot service a spec's builds and locks use: `--snapshot`, else the spec's `archive: snapshot:`, checked. */
export function specSnapshot(loaded: LoadedSpec, override?: string): string | undefined {
  if (override !== undefined) return snapshotBase(override, '--snapshot');
  const own = loaded.spec.archive?.snapshot;
  return own === undefined ? undefined : snapshotBase(own, `${loaded.at?.(['archive', 'snapshot']) ?? loaded.path}: archive.snapshot`);
}

/**
 * Records in a lock, for each package not yet pinned, the first snapshot that served its `.deb` (the service's API),
 * so the lock still rebuilds bit for bit once the live archive drops those versions. A version too new for the
 * service to have imported yet stays unpinned: a later fetch asks the service again.
 */
export async function pinSnapshots(lockFile: LockFile, base: string, concurrency = 8): Promise<void> {
  const packages = Object.values(lockFile.architectures).flatMap((a) => [...a.packages, ...(a.baseFiles ? [a.baseFiles] : [])]);
  const found = new Map<string, Promise<Awaited<ReturnType<typeof findInSnapshot>>>>();
  await forEachBounded(packages.filter((p) => p.snapshot === undefined), concurrency, async (p) => {
    // arch:all packages appear once per architecture: one question each.
    if (!found.has(p.filename)) found.set(p.filename, findInSnapshot(base, p));
    const pin = await found.get(p.filename)!;
    if (pin) p.snapshot = pin;
  });
}

/** Copies the snapshot pins of an old lock to the same files in a new one: where a file was first served is a fact. */
export function carrySnapshots(from: LockFile, to: LockFile): void {
  const pins = new Map(Object.values(from.architectures).flatMap((a) => [...a.packages, ...(a.baseFiles ? [a.baseFiles] : [])]).flatMap((p) => (p.snapshot ? [[p.sha256, p.snapshot] as const] : [])));
  for (const a of Object.values(to.architectures)) {
    for (const p of [...a.packages, ...(a.baseFiles ? [a.baseFiles] : [])]) {
      const pin = pins.get(p.sha256);
      if (pin && !p.snapshot) p.snapshot = pin;
    }
  }
}

/**
 * `pith lock` and `pith lock --check`: the archive opened for the spec (unless one is handed in), then the lock
 * stage's pure resolution or comparison, then the lock written atomically.
 */
import type { LoadedSpec } from '../config/spec.ts';
import { loadSpec } from '../config/spec.ts';
import type { Archive } from '../debian/archive.ts';
import type { Resolution } from '../debian/resolve.ts';
import { lockChanges, lockDrift, lockInputs, lockPathFor, lockToRead, packagesByName, readLock, resolveLock, writeLock, type LockCheck, type LockFile, type PackageChange, type ResolveLockOptions } from '../lock/lock.ts';
import { isPithError } from '../errors.ts';
import { carrySnapshots, openSpecArchive, pinSnapshots, specSnapshot, type ArchiveAccess } from './archive.ts';

export interface LockOptions extends ArchiveAccess, Omit<ResolveLockOptions, 'sources'> {
  /** Write `pith.lock` next to the spec (default true). */
  write?: boolean;
  /** An archive already opened for this spec (as `openSpecArchive` does). */
  archive?: Archive;
}

export interface LockResult {
  lock: LockFile;
  /** Where the lock was (or would be) written. */
  path: string;
  written: boolean;
  resolutions: Resolution[];
  archive: Archive;
}

/** Resolves a spec against its archive and writes its lock atomically. */
export async function lock(specFile: string | LoadedSpec, options: LockOptions = {}): Promise<LockResult> {
  const loaded = typeof specFile === 'string' ? loadSpec(specFile) : specFile;
  const archive = options.archive ?? (await openSpecArchive(loaded.spec, lockInputs(loaded.spec, options.sources).architectures, options));
  const { lock: lockFile, resolutions } = await resolveLock(loaded, archive, { sources: options.sources, pins: options.pins, specFiles: options.specFiles });
  const snapshot = specSnapshot(loaded, options.snapshot);
  if (snapshot !== undefined && !options.offline) await pinSnapshots(lockFile, snapshot);
  const path = lockPathFor(loaded.path);
  const write = options.write ?? true;
  if (write) await writeLock(path, lockFile);
  return { lock: lockFile, path, written: write, resolutions, archive };
}

/** The spec's lock against the spec and the archive: what changed, and which locked versions moved or left. */
export async function checkLock(specFile: string | LoadedSpec, options: ArchiveAccess & { archive?: Archive; lockFile?: LockFile } = {}): Promise<LockCheck> {
  const loaded = typeof specFile === 'string' ? loadSpec(specFile) : specFile;
  const lockFile = options.lockFile ?? readLock(lockToRead(loaded));
  const archive = options.archive ?? (await openSpecArchive(loaded.spec, Object.keys(lockFile.architectures), options));
  return lockDrift(loaded, lockFile, archive, options.sources);
}

export interface Relock {
  lock: LockFile;
  /** What in the spec changed since the old lock. */
  specChanges: string[];
  /** The packages that moved; every other package kept its locked version. */
  changes: PackageChange[];
}

/**
 * Re-locks a spec that changed since its lock, as cargo and npm do: every package of the old lock the archive still
 * serves at its locked version stays there, and only what the change needs is resolved afresh. When the change
 * cannot be met with those pins (a new package needs a newer libc6), the spec is resolved from scratch. Writes nothing.
 */
export async function relock(loaded: LoadedSpec, oldLock: LockFile, specChanges: string[], options: LockOptions = {}): Promise<Relock> {
  const architectures = lockInputs(loaded.spec, options.sources).architectures;
  const archive = options.archive ?? (await openSpecArchive(loaded.spec, architectures, options));
  const pins: Record<string, Map<string, string>> = {};
  for (const [arch, locked] of Object.entries(oldLock.architectures)) {
    const served = packagesByName(archive, arch);
    pins[arch] = new Map([...locked.packages, ...(locked.baseFiles ? [locked.baseFiles] : [])].filter((p) => served.get(p.name)?.some((q) => q.version === p.version)).map((p) => [p.name, p.version]));
  }
  let resolved: LockFile;
  try {
    resolved = (await resolveLock(loaded, archive, { sources: options.sources, pins, specFiles: options.specFiles })).lock;
  } catch (e) {
    if (!isPithError(e, 'UNSATISFIABLE')) throw e; // only the pins can make a satisfiable spec unsatisfiable
    resolved = (await resolveLock(loaded, archive, { sources: options.sources, specFiles: options.specFiles })).lock;
  }
  carrySnapshots(oldLock, resolved);
  const snapshot = specSnapshot(loaded, options.snapshot);
  if (snapshot !== undefined && !options.offline) await pinSnapshots(resolved, snapshot);
  return { lock: resolved, specChanges, changes: lockChanges(oldLock, resolved) };
}

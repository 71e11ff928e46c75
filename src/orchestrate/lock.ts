/**
 * `pith lock` and `pith lock --check`: the archive opened for the spec (unless one is handed in), then the lock
 * stage's pure resolution or comparison, then the lock written atomically.
 */
import type { LoadedSpec } from '../config/spec.ts';
import { loadSpec } from '../config/spec.ts';
import type { Archive } from '../debian/archive.ts';
import type { Resolution } from '../debian/resolve.ts';
import { lockDrift, lockInputs, lockPathFor, readLock, resolveLock, writeLock, type LockCheck, type LockFile, type ResolveLockOptions } from '../lock/lock.ts';
import { openSpecArchive, pinSnapshots, specSnapshot, type ArchiveAccess } from './archive.ts';

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
  const lockFile = options.lockFile ?? readLock(lockPathFor(loaded.path));
  const archive = options.archive ?? (await openSpecArchive(loaded.spec, Object.keys(lockFile.architectures), options));
  return lockDrift(loaded, lockFile, archive, options.sources);
}

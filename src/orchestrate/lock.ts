/**
 * `pith lock` and `pith lock --check`: the archive opened for the spec (unless one is handed in), then the lock
 * stage's pure resolution or comparison, then the lock written atomically.
 */
import type { LoadedSpec } from '../config/spec.ts';
import { loadSpec } from '../config/spec.ts';
import type { Archive } from '../debian/archive.ts';
import type { Resolution } from '../debian/resolve.ts';
import { highest, lockChanges, lockDrift, lockInputs, lockPathFor, lockToRead, packagesByName, readLock, resolveLock, writeLock, type LockCheck, type LockFile, type PackageChange, type ResolveLockOptions } from '../lock/lock.ts';
import { parseRelations } from '../debian/relations.ts';
import { compareVersions, satisfiesVersion } from '../debian/version.ts';
import { isPithError } from '../errors.ts';
import { carrySnapshots, openSpecArchive, pinSnapshots, specSnapshot, type ArchiveAccess } from './archive.ts';
import { isSecurityOrigin } from './check.ts';

export interface LockOptions extends ArchiveAccess, Omit<ResolveLockOptions, 'sources'> {
  /** Write the spec's lock beside it, named after it (`lockPathFor`; default true). */
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
 * serves at its locked version stays there, except those a newly requested package's candidate needs newer (a new
 * package that needs a newer libc6 moves libc6, nothing else). Only when those pins still make the spec
 * unsatisfiable (a need the walk cannot see, such as a Conflicts) is it resolved from scratch. Writes nothing.
 */
export async function relock(loaded: LoadedSpec, oldLock: LockFile, specChanges: string[], options: LockOptions = {}): Promise<Relock> {
  const architectures = lockInputs(loaded.spec, options.sources).architectures;
  const archive = options.archive ?? (await openSpecArchive(loaded.spec, architectures, options));
  const { pins } = minimalPins(oldLock, archive, 'none', loaded.spec.packages);
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

/**
 * The pins of a minimal re-resolution: per architecture, every locked package that is not to move, at its locked
 * version. What moves: by default (`pith update`) each package with a newer candidate; with `'security'` each whose
 * newer candidate comes from a security suite; with `'none'` (a re-lock after the spec changed) only a package whose
 * locked version the archive no longer serves. Then whatever the moving packages' and the newly `requested`
 * packages' candidates depend on (through packages the lock does not hold yet) moves too when its pinned version
 * does not satisfy them, repeated until nothing more has to move.
 */
export function minimalPins(lockFile: LockFile, archive: Archive, only?: 'security' | 'none', requested: readonly string[] = []): { pins: Record<string, Map<string, string>>; moving: Map<string, Set<string>> } {
  const pins: Record<string, Map<string, string>> = {};
  const moving = new Map<string, Set<string>>();
  for (const [arch, locked] of Object.entries(lockFile.architectures)) {
    const byName = packagesByName(archive, arch);
    // The spec's `name=version` requests are walked at that version, everything else at apt's candidate.
    const asked = new Map(requested.map((r) => [r.split(/[:=]/)[0]!, /=(.+)$/.exec(r)?.[1]]));
    const candidate = (name: string) => {
      const served = byName.get(name) ?? [];
      const version = asked.get(name);
      return version === undefined ? highest(served) : served.find((p) => p.version === version);
    };
    const pin = new Map<string, string>();
    const move = new Set<string>();
    for (const p of [...locked.packages, ...(locked.baseFiles ? [locked.baseFiles] : [])]) {
      const served = byName.get(p.name) ?? [];
      const b = highest(served);
      const moves =
        only === 'none'
          ? !served.some((q) => q.version === p.version)
          : b !== undefined && compareVersions(b.version, p.version) > 0 && (only !== 'security' || isSecurityOrigin(b));
      if (moves) move.add(p.name);
      else pin.set(p.name, p.version);
    }
    for (const [name, version] of asked) {
      if (version !== undefined && pin.has(name) && pin.get(name) !== version) {
        pin.delete(name);
        move.add(name);
      }
    }
    const queue = [...move, ...[...asked.keys()].filter((name) => !pin.has(name))];
    const walked = new Set(queue);
    while (queue.length > 0) {
      const name = queue.pop()!;
      const b = candidate(name);
      if (!b) continue; // not served (or only virtual): the resolver reports it
      for (const field of [b.preDepends, b.depends]) {
        for (const group of field ? parseRelations(field, `${b.name} ${b.version}`) : []) {
          const pinnedMeets = (r: (typeof group)[number]) => {
            const v = pin.get(r.name);
            return v !== undefined && (r.op === undefined || r.version === undefined || satisfiesVersion(v, r.op, r.version));
          };
          if (group.some(pinnedMeets)) continue;
          const free = group.find((r) => !pin.has(r.name));
          if (free) {
            // A package the lock does not hold yet: its own candidate's needs may reach the pins.
            if (!walked.has(free.name)) {
              walked.add(free.name);
              queue.push(free.name);
            }
            continue;
          }
          const first = group[0]!;
          pin.delete(first.name);
          move.add(first.name);
          walked.add(first.name);
          queue.push(first.name);
        }
      }
    }
    pins[arch] = pin;
    moving.set(arch, move);
  }
  return { pins, moving };
}

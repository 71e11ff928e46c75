/** A fleet is a directory tree of specs: every `pith.yaml` under it (or spec named), each with its lock beside it (`lockToRead`). */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PithError } from '../errors.ts';
import { compareStrings } from '../order.ts';
import { SPEC_FILE_NAMES, type LoadedSpec } from '../config/spec.ts';
import type { Archive } from '../debian/archive.ts';
import type { LockFile } from '../lock/lock.ts';
import { openSpecArchive, type ArchiveAccess } from './archive.ts';

const SPEC_NAMES = new Set<string>(SPEC_FILE_NAMES);

/** The spec files the given paths name: a file is a spec; a directory is searched (dot-directories and node_modules skipped). */
export function findSpecs(paths: string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => compareStrings(a.name, b.name));
    for (const e of entries) {
      if (e.isFile() && SPEC_NAMES.has(e.name)) found.push(join(dir, e.name));
    }
    for (const e of entries) {
      if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') walk(join(dir, e.name));
    }
  };
  for (const p of paths.length > 0 ? paths : ['.']) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new PithError('SPEC_NOT_FOUND', `${p}: expected a pith.yaml or a directory of specs, ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (st.isDirectory()) {
      const before = found.length;
      walk(resolve(p));
      if (found.length === before) throw new PithError('SPEC_NOT_FOUND', `${p}: no pith.yaml under this directory`);
    } else found.push(resolve(p));
  }
  return [...new Set(found)];
}

/**
 * Opens each spec's archive once per fleet run: specs usually share their sources, so the archive is fetched and
 * verified once per distinct set of sources and architectures, and its indexes are built once.
 */
export function fleetArchives(access: ArchiveAccess): (loaded: LoadedSpec, lockFile: LockFile) => Promise<Archive> {
  const archives = new Map<string, Promise<Archive>>();
  return (loaded, lockFile) => {
    const key = JSON.stringify([loaded.spec.archive ?? null, access.sources ?? null, Object.keys(lockFile.architectures).sort()]);
    let archive = archives.get(key);
    if (!archive) archives.set(key, (archive = openSpecArchive(loaded.spec, Object.keys(lockFile.architectures), access)));
    return archive;
  };
}

import { readFileSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { BUILTIN_USERS } from './accounts.ts';
import type { LoadedSpec, Spec } from './spec.ts';
import { PithError } from '../errors.ts';
import type { FsEntry } from '../fs/entry.ts';
import { normalisePath } from '../fs/tree.ts';

/**
 * The spec's `files:` read from the host, relative to the spec. Only regular files, only into the image: a
 * destination that climbs out of `/` is an error, and nothing is ever written on the host.
 */
export function readSpecFiles(loaded: LoadedSpec, sourceDateEpoch: number): FsEntry[] {
  return (loaded.spec.files ?? []).map((f, i) => {
    const where = `${loaded.path}: files[${i}]`;
    const from = resolvePath(loaded.dir, f.from);
    let st;
    try {
      st = statSync(from);
    } catch {
      throw new PithError('SPEC_FILE_MISSING', `${where}: expected a file at ${from} (from: ${f.from}), found nothing`);
    }
    if (!st.isFile()) throw new PithError('SPEC_FILE_MISSING', `${where}: expected a regular file at ${from}, found ${st.isDirectory() ? 'a directory' : 'something else'}`);
    let to: string;
    try {
      to = normalisePath(f.to);
    } catch {
      throw new PithError('PATH_ESCAPES', `${where}: expected a destination inside the image, found "${f.to}"`);
    }
    if (to === '/') throw new PithError('PATH_ESCAPES', `${where}: expected a file path, found "/"`);
    const mode = f.mode === undefined ? (st.mode & 0o111 ? 0o755 : 0o644) : typeof f.mode === 'number' ? f.mode : parseInt(f.mode, 8);
    const [uid, gid] = ownerIds(f.owner, loaded.spec, where);
    return { type: 'file', path: to, mode, uid, gid, mtime: sourceDateEpoch, content: new Uint8Array(readFileSync(from)) } satisfies FsEntry;
  });
}

function ownerIds(owner: string | number | undefined, spec: Spec, where: string): [number, number] {
  if (owner === undefined) return [0, 0];
  if (typeof owner === 'number') return [owner, owner];
  const m = /^(\d+)(?::(\d+))?$/.exec(owner);
  if (m) return [Number(m[1]), Number(m[2] ?? m[1])];
  const users = [...BUILTIN_USERS, ...(spec.accounts?.users ?? [])];
  const user = users.find((u) => u.name === owner);
  if (!user) throw new PithError('SPEC_INVALID', `${where}: owner: expected a uid[:gid] or a known user (${users.map((u) => u.name).join(', ')}), found "${owner}"`);
  return [user.uid, user.gid ?? user.uid];
}

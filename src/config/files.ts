import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, posix, resolve as resolvePath, sep } from 'node:path';
import { BUILTIN_USERS } from './accounts.ts';
import type { LoadedSpec, Spec } from './spec.ts';
import { PithError } from '../errors.ts';
import type { Content } from '../fs/content.ts';
import type { FsEntry } from '../fs/entry.ts';
import { normalisePath } from '../fs/tree.ts';
import { compareStrings } from '../order.ts';

type SpecFile = NonNullable<Spec['files']>[number];

/**
 * The spec's `files:` read from the host. Every `from:` must lie inside the build context — the spec's directory,
 * or the directory its `context:` names — after every symlink is resolved, as a Docker build context: a spec from
 * an untrusted change must never copy the host's secrets (`../../etc/shadow`, `/etc/shadow`, a link to either)
 * into an image. A directory copies recursively, as Docker's COPY does (see `destination` for where things land).
 *
 * What reaches the image depends on the files' content, names and executable bits only, so the same checkout
 * gives the same layer on every machine whatever its umask, clock or directory order: modes are 0755 (any x bit
 * set) or 0644 — the two modes git records — unless `mode:` says otherwise; directories are 0755; owners are 0:0
 * or `owner:`, for every entry; mtimes are the build epoch; hardlinks become separate files (how a checkout
 * links files is the host's business); entries are sorted. Symlinks inside a copied directory stay symlinks with
 * their target verbatim: they are never followed on the host, so they cannot pull anything in from outside.
 * Nothing is ever written on the host.
 */
export function readSpecFiles(loaded: LoadedSpec, sourceDateEpoch: number): FsEntry[] {
  const files = loaded.spec.files ?? [];
  if (files.length === 0) return [];
  const context = buildContext(loaded);
  return files.flatMap((f, i) => {
    try {
      return readEntry(loaded, context, f, i, sourceDateEpoch);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (e instanceof PithError || code === undefined) throw e;
      const path = (e as NodeJS.ErrnoException).path;
      throw new PithError('SPEC_FILE_MISSING', `${place(loaded, ['files', i, 'from'])}: files[${i}].from: expected to read ${path ?? f.from}, found ${code}`);
    }
  });
}

interface Context {
  /** The context as written, from the spec's directory. */
  dir: string;
  /** The context with every symlink resolved: what `from:` paths are held to. */
  real: string;
  /** How an error names it. */
  described: string;
}

function place(loaded: LoadedSpec, path: ReadonlyArray<string | number>): string {
  return loaded.at?.(path) ?? loaded.path;
}

function buildContext(loaded: LoadedSpec): Context {
  const { context } = loaded.spec;
  const dir = resolvePath(loaded.dir, context ?? '.');
  const described = context === undefined ? `the spec's directory ${dir}` : `the context ${dir} (context: ${context})`;
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (e) {
    throw new PithError('SPEC_FILE_MISSING', `${place(loaded, ['context'])}: context: expected a directory at ${dir}, found nothing (${(e as NodeJS.ErrnoException).code})`);
  }
  if (!statSync(real).isDirectory()) {
    throw new PithError('SPEC_FILE_MISSING', `${place(loaded, ['context'])}: context: expected a directory at ${dir}, found a file`);
  }
  if (loaded.contextRoot !== undefined) {
    let root: string;
    try {
      root = realpathSync(loaded.contextRoot);
    } catch (e) {
      throw new PithError('SPEC_FILE_MISSING', `the context root ${loaded.contextRoot} ($PITH_CONTEXT_ROOT or the contextRoot option): expected a directory, found nothing (${(e as NodeJS.ErrnoException).code})`);
    }
    if (!inside(root, real)) {
      throw new PithError('PATH_ESCAPES', `${place(loaded, ['context'])}: expected a build context inside the context root ${root} that the caller set, found ${described}${real !== dir ? ` (${real})` : ''}, outside it`);
    }
  }
  return { dir, real, described };
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function readEntry(loaded: LoadedSpec, context: Context, f: SpecFile, i: number, epoch: number): FsEntry[] {
  const fromAt = `${place(loaded, ['files', i, 'from'])}: files[${i}].from`;
  const widen = loaded.spec.context === undefined ? '; set context: in the spec to widen it on purpose' : '';
  const lexical = resolvePath(loaded.dir, f.from);
  let real: string;
  try {
    real = realpathSync(lexical);
  } catch {
    // A path that leads out is refused as such even when nothing is there, so no error tells what the host holds
    // outside the context: through `..`, a linked parent directory, or a dangling link.
    const parent = realAncestor(dirname(lexical));
    const link = lstatOrUndefined(lexical);
    const leadsTo = link?.isSymbolicLink() ? resolvePath(parent, readlinkSync(lexical)) : lexical;
    if ((!inside(context.dir, lexical) && !inside(context.real, lexical)) || !inside(context.real, parent) || !inside(context.real, leadsTo)) {
      throw new PithError('PATH_ESCAPES', `${fromAt}: expected a path inside ${context.described}, found "${f.from}", which leads outside it${widen}`);
    }
    throw new PithError('SPEC_FILE_MISSING', `${fromAt}: expected a file or directory at ${lexical}, found ${link?.isSymbolicLink() ? `a symlink to ${readlinkSync(lexical)}, which leads nowhere` : 'nothing'}`);
  }
  if (!inside(context.real, real)) {
    const via = real === lexical ? '' : `, which resolves to ${real}`;
    throw new PithError('PATH_ESCAPES', `${fromAt}: expected a path inside ${context.described}, found "${f.from}"${via}, outside it${widen}`);
  }
  const st = statSync(real);
  const mode = parseMode(f.mode);
  const [uid, gid] = ownerIds(f.owner, loaded.spec, `${place(loaded, ['files', i, 'owner'])}: files[${i}].owner`);
  const toAt = `${place(loaded, ['files', i, 'to'])}: files[${i}].to`;
  if (st.isDirectory()) {
    const root = destination(f.to, undefined, toAt);
    const entries: FsEntry[] = [];
    if (root !== '/') entries.push({ type: 'dir', path: root, mode: dirMode(mode), uid, gid, mtime: epoch });
    walk(real, root, { mode, uid, gid, epoch, where: fromAt }, entries);
    return entries;
  }
  if (!st.isFile()) throw new PithError('SPEC_FILE_MISSING', `${fromAt}: expected a regular file or a directory at ${real}, found ${kind(st)}`);
  const path = destination(f.to, basename(lexical), toAt);
  return [{ type: 'file', path, mode: mode ?? fileMode(st), uid, gid, mtime: epoch, content: readRegular(real, fromAt) }];
}

/**
 * Where a copy lands, as Docker's COPY decides it: a directory's contents go under `to` (the directory itself is
 * not copied, with or without a trailing slash); a file goes to `to`, or — when `to` ends in "/" — into that
 * directory under its own name (`to: /app/` puts `./bin/server` at /app/server). One difference: COPY also treats
 * a `to` without the slash as a directory when the image already has one there; pith reads `files:` before the
 * image exists, so such a file meets the directory and the build fails with PATH_CONFLICT rather than guessing.
 */
function destination(to: string, fileName: string | undefined, where: string): string {
  let path: string;
  try {
    path = normalisePath(fileName !== undefined && to.endsWith('/') ? `${to}/${fileName}` : to);
  } catch {
    throw new PithError('PATH_ESCAPES', `${where}: expected a destination inside the image, found "${to}", which climbs above /`);
  }
  if (fileName !== undefined && path === '/') throw new PithError('PATH_ESCAPES', `${where}: expected a file path, found "${to}"`);
  return path;
}

interface WalkOptions {
  mode: number | undefined;
  uid: number;
  gid: number;
  epoch: number;
  where: string;
}

/** A directory's entries, depth first in name order; never follows a symlink. */
function walk(hostDir: string, imageDir: string, o: WalkOptions, out: FsEntry[]): void {
  for (const name of readdirSync(hostDir).sort(compareStrings)) {
    const host = `${hostDir}${sep}${name}`;
    const path = posix.join(imageDir, name);
    const st = lstatSync(host);
    const common = { path, uid: o.uid, gid: o.gid, mtime: o.epoch };
    if (st.isDirectory()) {
      out.push({ type: 'dir', ...common, mode: dirMode(o.mode) });
      walk(host, path, o, out);
    } else if (st.isSymbolicLink()) {
      out.push({ type: 'symlink', ...common, target: readlinkSync(host) });
    } else if (st.isFile()) {
      out.push({ type: 'file', ...common, mode: o.mode ?? fileMode(st), content: readRegular(host, o.where) });
    } else {
      throw new PithError('SPEC_FILE_MISSING', `${o.where}: expected regular files, directories and symlinks in a copied directory, found ${kind(st)} at ${host}`);
    }
  }
}

/**
 * Opened without following a last-moment symlink and without blocking on a fifo, then checked again: a path
 * swapped after it was checked fails instead of reading something else.
 */
function readRegular(host: string, where: string): Content {
  const fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new PithError('SPEC_FILE_MISSING', `${where}: expected a regular file at ${host}, found ${kind(st)}`);
    if (st.size < LARGE_FILE) return new Uint8Array(readFileSync(fd));
    // Hashed now and read again when its layer is written (checked against this hash then), never held whole.
    const hash = createHash('sha256');
    const piece = new Uint8Array(1 << 20);
    let size = 0;
    for (let n; (n = readSync(fd, piece, 0, piece.byteLength, size)) > 0; size += n) hash.update(piece.subarray(0, n));
    return { file: realpathSync(host), offset: 0, size, sha256: hash.digest('hex'), foreign: true };
  } finally {
    closeSync(fd);
  }
}

/** Files at least this large are left on the host until their layer is written. */
const LARGE_FILE = 4 * 1024 * 1024;

/** git's two modes: the host's other bits come from its umask, not from the project. */
function fileMode(st: Stats): number {
  return st.mode & 0o111 ? 0o755 : 0o644;
}

/**
 * `mode:` is for files; a directory it covers gets the search bit wherever the mode grants read (chmod's `X`):
 * Docker's `COPY --chmod=644` applies 644 to directories too, which leaves them impossible to enter.
 */
function dirMode(mode: number | undefined): number {
  if (mode === undefined) return 0o755;
  return (mode & 0o7777) | ((mode & 0o444) >> 2);
}

function parseMode(mode: SpecFile['mode']): number | undefined {
  return mode === undefined ? undefined : typeof mode === 'number' ? mode : parseInt(mode, 8);
}

function kind(st: Stats): string {
  if (st.isFIFO()) return 'a fifo';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice() || st.isCharacterDevice()) return 'a device';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symlink';
  return 'something that is not a regular file';
}

/** The real path of the nearest existing directory at or above `dir`. */
function realAncestor(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    try {
      return realpathSync(d);
    } catch {
      if (d === dirname(d)) return d;
    }
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function ownerIds(owner: string | number | undefined, spec: Spec, where: string): [number, number] {
  if (owner === undefined) return [0, 0];
  if (typeof owner === 'number') return [owner, owner];
  const m = /^(\d+)(?::(\d+))?$/.exec(owner);
  if (m) return [Number(m[1]), Number(m[2] ?? m[1])];
  const users = [...BUILTIN_USERS, ...(spec.accounts?.users ?? [])];
  const user = users.find((u) => u.name === owner);
  if (!user) throw new PithError('SPEC_INVALID', `${where}: expected a uid[:gid] or a known user (${users.map((u) => u.name).join(', ')}), found "${owner}"`);
  return [user.uid, user.gid ?? user.uid];
}

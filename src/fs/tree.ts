/**
 * The image filesystem, held in memory while a build assembles it. Nothing here touches the host disk: paths are
 * keys, symlinks are strings resolved against this tree only (a link to `../../../../etc` stays inside, like a
 * chroot), so a hostile package can never reach the machine running the build.
 */
import { PithError } from '../errors.ts';
import { contentSize, readContent, sameContent } from './content.ts';
import type { DirEntry, FileEntry, FsEntry, HardlinkEntry } from './entry.ts';
import { compareStrings } from '../order.ts';

/** Linux's MAXSYMLINKS: a lookup that follows more links than this fails with ELOOP. */
export const MAX_SYMLINK_HOPS = 40;

/**
 * Top-level directories that merged /usr turns into links into /usr: the set Debian's usrmerge handles.
 * /bin, /sbin, /lib and /lib64 always exist as links; the rarer multilib ones appear when a package ships into them.
 */
const USR_ALIASES = new Set(['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libo32', 'libx32']);
const ALWAYS_LINKED = ['bin', 'sbin', 'lib', 'lib64'];

export interface FsTreeOptions {
  /** Make /bin, /sbin, /lib* links into /usr and move every path added under them to /usr (see `FsTree.mergedUsr`). */
  mergedUsr?: boolean;
}

export interface AddOptions {
  /**
   * The new entry may replace a different non-directory entry another package added at the same path. The build
   * passes this when the adding package `Replaces` the owner, as dpkg would let it overwrite the file.
   */
  replaces?: boolean;
}

export interface ResolveOptions {
  /** Follow a symlink in the last component too (default true), like stat() rather than lstat(). */
  followLast?: boolean;
  /** Receives the path of every symlink the lookup follows, in order (e.g. to keep a link chain whole). */
  visited?: string[];
}

/**
 * Normalises a path of the image: `./usr//bin/../lib/x` → `/usr/lib/x`. Relative paths are taken from `/`, as tar
 * entries are. A path that climbs above `/` is refused (PATH_ESCAPES) rather than clamped: in a package it means
 * the archive is hostile or broken, and the caller knows which package to name.
 */
export function normalisePath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) {
        throw new PithError('PATH_ESCAPES', `expected a path inside the image, found ${JSON.stringify(p)}, which climbs above /`, {
          details: { path: p },
        });
      }
      out.pop();
    } else {
      out.push(part);
    }
  }
  return '/' + out.join('/');
}

/**
 * Where a normalised path really lives in a merged-/usr tree: `/lib/x86_64-linux-gnu/libc.so.6` is
 * `/usr/lib/x86_64-linux-gnu/libc.so.6`. Other paths are returned as they are.
 */
export function usrMergedPath(normalised: string): string {
  const top = topOf(normalised);
  return USR_ALIASES.has(top) && normalised !== '/' + top ? '/usr' + normalised : normalised;
}

const ROOT: DirEntry = Object.freeze({ type: 'dir', path: '/', mode: 0o755, uid: 0, gid: 0, mtime: 0 });

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function join(dir: string, name: string): string {
  return dir === '/' ? '/' + name : dir + '/' + name;
}

function topOf(path: string): string {
  const i = path.indexOf('/', 1);
  return i === -1 ? path.slice(1) : path.slice(1, i);
}

function identical(a: FsEntry, b: FsEntry): boolean {
  if (a.type !== b.type || a.uid !== b.uid || a.gid !== b.gid) return false;
  switch (a.type) {
    case 'file': {
      const f = b as FileEntry;
      return a.mode === f.mode && sameContent(a.content, f.content);
    }
    case 'symlink':
    case 'hardlink':
      return a.target === (b as typeof a).target;
    case 'dir':
      return true;
  }
}

/**
 * The tree's own copy of an entry, its fields written out: a spread (`{ ...entry, path }`) gives each of a large
 * image's quarter million entries a separate property array (~40 bytes) besides the object, and keeps whatever else
 * the caller's object carried.
 */
function storedEntry(e: FsEntry, path: string, hardlinkTarget: string | undefined): FsEntry {
  switch (e.type) {
    case 'file':
      return { type: 'file', path, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, content: e.content };
    case 'dir':
      return { type: 'dir', path, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime };
    case 'symlink':
      return { type: 'symlink', path, target: e.target, uid: e.uid, gid: e.gid, mtime: e.mtime };
    case 'hardlink':
      return { type: 'hardlink', path, target: hardlinkTarget!, uid: e.uid, gid: e.gid, mtime: e.mtime };
  }
}

function describe(e: FsEntry): string {
  switch (e.type) {
    case 'file':
      return `a file (mode ${e.mode.toString(8).padStart(4, '0')}, ${contentSize(e.content)} bytes)`;
    case 'dir':
      return 'a directory';
    case 'symlink':
      return `a symlink to ${JSON.stringify(e.target)}`;
    case 'hardlink':
      return `a hardlink to ${e.target}`;
  }
}

function who(owner: string | undefined): string {
  return owner === undefined ? 'pith itself (no package)' : `package ${owner}`;
}

export class FsTree {
  readonly isMergedUsr: boolean;
  readonly #entries = new Map<string, FsEntry>();
  /** Path → the packages that shipped it: one name, or several in the order added; absent for pith's own. */
  readonly #owners = new Map<string, string | string[]>();
  /**
   * Directory path → the paths of its entries (the same strings as the keys of #entries, so no copy); '/' included.
   * Keeps recursive removal proportional to the subtree. Arrays, not Sets: a large image has tens of thousands of
   * directories, and a Set's hash table costs several times an array's slots; only removal searches them.
   */
  readonly #children = new Map<string, string[]>([['/', []]]);
  /** Directories made only because something was added below them: a package's own entry for one takes over. */
  readonly #implicit = new Set<string>();
  /** File path → hardlinks sharing its content, so removing or replacing the file can hand the content on. */
  readonly #linksTo = new Map<string, Set<string>>();

  constructor(options: FsTreeOptions = {}) {
    this.isMergedUsr = options.mergedUsr ?? false;
    if (this.isMergedUsr) for (const d of ALWAYS_LINKED) this.#aliasLink(d);
  }

  /**
   * A tree laid out as Debian has been since bookworm: `/bin → usr/bin`, `/sbin → usr/sbin`, `/lib → usr/lib`,
   * `/lib64 → usr/lib64` (plus `/lib32`, `/libx32`, `/libo32` once anything is added under them), and every path a
   * package ships under those lands under /usr. Symlink targets are kept as shipped: through the links they still
   * resolve.
   */
  static mergedUsr(): FsTree {
    return new FsTree({ mergedUsr: true });
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Adds an entry (its path may be relative or unnormalised), creating missing parent directories (0755 root:root)
   * and recording `owner` as a package that ships the path. Parents that are symlinks are followed inside the tree,
   * as dpkg's extraction would follow them on disk.
   *
   * A directory over a directory merges (the first explicit mode and owner win). The same non-directory again is
   * fine; a different one replaces it when it comes from the same owner (a later tar member overwrites an earlier
   * one) or with `replaces`, and is otherwise a PATH_CONFLICT. A directory where a non-directory is, or the other
   * way round, is always a PATH_CONFLICT.
   */
  add(entry: FsEntry, owner?: string, options: AddOptions = {}): void {
    let path = this.#normalise(entry.path, owner);
    if (this.isMergedUsr) {
      const top = topOf(path);
      if (USR_ALIASES.has(top)) {
        if (path === '/' + top) {
          if (entry.type === 'symlink' && this.#isAliasTarget(entry.target, top)) {
            this.#aliasLink(top);
            return;
          }
          if (entry.type !== 'dir') {
            throw new PithError(
              'PATH_CONFLICT',
              `${path}: expected the merged-/usr link to usr/${top} (or a directory, which lands at /usr/${top}), found ${describe(entry)} from ${who(owner)}`,
              { details: { path, owner } },
            );
          }
        }
        this.#aliasLink(top);
        path = '/usr' + path;
      }
    }
    if (path === '/') {
      if (entry.type === 'dir') return;
      throw new PithError('PATH_CONFLICT', `/: expected the root directory, found ${describe(entry)} from ${who(owner)}`, { details: { path, owner } });
    }
    path = join(this.#ensureDir(parentOf(path), path, owner), baseOf(path));

    const stored = storedEntry(entry, path, entry.type === 'hardlink' ? this.#hardlinkTarget(entry, path, owner) : undefined);

    const existing = this.#entries.get(path);
    if (existing === undefined) {
      this.#insert(stored, owner);
      return;
    }
    if (existing.type === 'dir' && stored.type === 'dir') {
      if (this.#implicit.has(path)) {
        this.#implicit.delete(path);
        this.#entries.set(path, stored);
        this.#setOwner(path, owner);
      } else {
        this.#addOwner(path, owner);
      }
      return;
    }
    const existingOwner = this.#firstOwner(path);
    if (existing.type === 'dir' && this.#implicit.has(path) && (this.#children.get(path)?.length ?? 0) === 0) {
      this.#removeOne(path);
      this.#insert(stored, owner);
      return;
    }
    if (existing.type !== 'dir' && stored.type !== 'dir') {
      if (identical(existing, stored)) {
        this.#addOwner(path, owner);
        return;
      }
      if (existingOwner === owner || options.replaces === true) {
        this.#detachLinks(path);
        this.#removeOne(path);
        this.#insert(stored, owner);
        return;
      }
    }
    const why = existing.type === 'dir' || stored.type === 'dir'
      ? 'a directory and a non-directory cannot share a path'
      : `expected identical content, or a package that Replaces ${existingOwner ?? 'the other'}`;
    throw new PithError(
      'PATH_CONFLICT',
      `${path}: ${who(owner)} ships ${describe(stored)}, but ${who(existingOwner)} already put ${describe(existing)} there; ${why}`,
      { details: { path, owner, existingOwner } },
    );
  }

  /** The entry at `path` (normalised; under merged /usr, `/lib/x` means `/usr/lib/x`), without following links. */
  get(path: string): FsEntry | undefined {
    return this.#entries.get(this.#canonical(path));
  }

  /** The first package that added `path`; undefined for paths pith made itself (implicit parents, merged-/usr links). */
  owner(path: string): string | undefined {
    return this.#firstOwner(this.#canonical(path));
  }

  /** Every package that shipped `path` (directories and identical shared files have several), in the order added. */
  owners(path: string): string[] {
    const owners = this.#owners.get(this.#canonical(path));
    return owners === undefined ? [] : typeof owners === 'string' ? [owners] : [...owners];
  }

  /**
   * Looks `path` up following symlinks inside the tree only: `..` at `/` stays at `/` and absolute targets restart at
   * the tree's root, as in a chroot. Undefined when a component is missing or a non-directory sits in the middle.
   * More than MAX_SYMLINK_HOPS links is a SYMLINK_LOOP. The root itself resolves to a synthetic directory entry.
   */
  resolve(path: string, options: ResolveOptions = {}): FsEntry | undefined {
    const followLast = options.followLast ?? true;
    const todo = path.split('/').reverse();
    const stack: string[] = [];
    let hops = 0;
    while (todo.length > 0) {
      const part = todo.pop()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        stack.pop();
        continue;
      }
      const candidate = '/' + (stack.length === 0 ? part : stack.join('/') + '/' + part);
      const entry = this.#entries.get(candidate);
      if (entry === undefined) return undefined;
      const last = !todo.some((p) => p !== '' && p !== '.');
      if (entry.type === 'symlink' && (!last || followLast)) {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new PithError('SYMLINK_LOOP', `${path}: expected to resolve within ${MAX_SYMLINK_HOPS} symlinks, found more (a loop?) at ${candidate}`, {
            details: { path },
          });
        }
        options.visited?.push(candidate);
        if (entry.target.startsWith('/')) stack.length = 0;
        for (const p of entry.target.split('/').reverse()) todo.push(p);
        continue;
      }
      if (!last && entry.type !== 'dir') return undefined;
      stack.push(part);
    }
    return stack.length === 0 ? ROOT : this.#entries.get('/' + stack.join('/'));
  }

  /** The content of the file at `path`, following symlinks and hardlinks; undefined when it is not a file. */
  readFile(path: string): Uint8Array | undefined {
    let entry = this.resolve(path);
    if (entry?.type === 'hardlink') entry = this.#entries.get(entry.target);
    return entry?.type === 'file' ? readContent(entry.content) : undefined;
  }

  /** Names in the directory at `path` (symlinks followed), sorted; undefined when it is not a directory. */
  readdir(path: string): string[] | undefined {
    const dir = this.resolve(path);
    if (dir?.type !== 'dir') return undefined;
    return [...(this.#children.get(dir.path) ?? [])].sort().map(baseOf);
  }

  /** How many entries the directory at `path` (symlinks followed) holds; undefined when it is not a directory. */
  childCount(path: string): number | undefined {
    const dir = this.resolve(path);
    return dir?.type === 'dir' ? (this.#children.get(dir.path)?.length ?? 0) : undefined;
  }

  /**
   * Removes `path` and, for a directory, everything below it. A removed file's surviving hardlinks keep its content:
   * the first of them becomes the file. Returns whether anything was there.
   */
  remove(path: string): boolean {
    const p = this.#canonical(path);
    if (p === '/') throw new PithError('PATH_INVALID', 'expected a path below / to remove, found / itself');
    if (!this.#entries.has(p)) return false;
    const doomed: string[] = [];
    const walk = (q: string) => {
      doomed.push(q);
      for (const child of this.#children.get(q) ?? []) walk(child);
    };
    walk(p);
    const gone = new Set(doomed);
    for (const q of doomed) {
      const e = this.#entries.get(q);
      if (e?.type === 'hardlink') this.#linksTo.get(e.target)?.delete(q);
    }
    for (const q of doomed) if (this.#entries.get(q)?.type === 'file') this.#detachLinks(q, gone);
    // Below `p`, every parent goes too: its list of children goes with it, unsearched.
    for (const q of doomed.reverse()) this.#removeOne(q, q === p);
    return true;
  }

  /** Every entry, sorted by path (so each directory comes before what it holds). Treat them as read-only. */
  entries(): FsEntry[] {
    return [...this.#entries.values()].sort((a, b) => compareStrings(a.path, b.path));
  }

  #normalise(path: string, owner: string | undefined): string {
    try {
      return normalisePath(path);
    } catch (e) {
      if (e instanceof PithError && owner !== undefined) {
        throw new PithError(e.code, `${who(owner)}: ${e.message}`, { details: { ...e.details, owner } });
      }
      throw e;
    }
  }

  #canonical(path: string): string {
    // An entry's own path is canonical already: stages walking the tree ask about every entry, a quarter million in a
    // large image, and need not make each path again.
    if (this.#entries.has(path)) return path;
    const p = normalisePath(path);
    return this.isMergedUsr ? usrMergedPath(p) : p;
  }

  #isAliasTarget(target: string, top: string): boolean {
    try {
      return normalisePath(target) === '/usr/' + top;
    } catch {
      return false;
    }
  }

  #aliasLink(top: string): void {
    const path = '/' + top;
    if (this.#entries.get(path)?.type === 'symlink') return;
    this.#insert({ type: 'symlink', path, target: 'usr/' + top, uid: 0, gid: 0, mtime: 0 }, undefined);
  }

  /**
   * Walks to directory `dir`, creating what is missing and following symlinks inside the tree; returns where it
   * really is. A non-directory on the way is a PATH_CONFLICT: nothing can be added beneath a file.
   */
  #ensureDir(dir: string, forPath: string, owner: string | undefined): string {
    const todo = dir.split('/').reverse();
    let cur = '/';
    let hops = 0;
    while (todo.length > 0) {
      const part = todo.pop()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        cur = parentOf(cur);
        continue;
      }
      const next = join(cur, part);
      const e = this.#entries.get(next);
      if (e === undefined) {
        this.#implicit.add(next);
        this.#insert({ type: 'dir', path: next, mode: 0o755, uid: 0, gid: 0, mtime: 0 }, undefined);
      } else if (e.type === 'symlink') {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new PithError('SYMLINK_LOOP', `${forPath} (from ${who(owner)}): expected its parent ${dir} to resolve within ${MAX_SYMLINK_HOPS} symlinks, found more at ${next}`, {
            details: { path: forPath, owner },
          });
        }
        if (e.target.startsWith('/')) cur = '/';
        for (const p of e.target.split('/').reverse()) todo.push(p);
        continue;
      } else if (e.type !== 'dir') {
        throw new PithError(
          'PATH_CONFLICT',
          `${forPath}: ${who(owner)} needs a directory at ${next}, but ${who(this.#firstOwner(next))} put ${describe(e)} there`,
          { details: { path: forPath, owner, existingOwner: this.#firstOwner(next) } },
        );
      }
      cur = next;
    }
    return cur;
  }

  /** Where a hardlink's target really is: the file it names, through any hardlink it names. */
  #hardlinkTarget(entry: HardlinkEntry, path: string, owner: string | undefined): string {
    const missing = (found: string) =>
      new PithError('PATH_HARDLINK_TARGET', `${path}: ${who(owner)} ships a hardlink to ${entry.target}; expected a file already in the image there, found ${found}`, {
        details: { path, owner, target: entry.target },
      });
    const target = this.#canonical(this.#normalise(entry.target, owner));
    if (target === '/') throw missing('the root directory');
    const parent = this.resolve(parentOf(target));
    if (parent?.type !== 'dir') throw missing('no such directory');
    const t = this.#entries.get(join(parent.path, baseOf(target)));
    if (t === undefined) throw missing('nothing');
    if (t.type === 'hardlink') return t.target;
    if (t.type !== 'file') throw missing(describe(t));
    if (t.path === path) throw missing('the link itself');
    return t.path;
  }

  #insert(entry: FsEntry, owner: string | undefined): void {
    this.#entries.set(entry.path, entry);
    this.#setOwner(entry.path, owner);
    this.#children.get(parentOf(entry.path))!.push(entry.path);
    if (entry.type === 'dir') this.#children.set(entry.path, []);
    if (entry.type === 'hardlink') {
      let links = this.#linksTo.get(entry.target);
      if (links === undefined) this.#linksTo.set(entry.target, (links = new Set()));
      links.add(entry.path);
    }
  }

  #removeOne(path: string, fromParent = true): void {
    const e = this.#entries.get(path);
    if (e?.type === 'hardlink') this.#linksTo.get(e.target)?.delete(path);
    this.#entries.delete(path);
    this.#owners.delete(path);
    this.#implicit.delete(path);
    this.#children.delete(path);
    this.#linksTo.delete(path);
    if (!fromParent) return;
    const siblings = this.#children.get(parentOf(path));
    const at = siblings?.indexOf(path) ?? -1;
    if (at !== -1) siblings!.splice(at, 1);
  }

  /** Before file `path` goes, its first surviving hardlink becomes a file with its content; the rest point there. */
  #detachLinks(path: string, gone: Set<string> = new Set()): void {
    const file = this.#entries.get(path);
    const links = [...(this.#linksTo.get(path) ?? [])].filter((l) => !gone.has(l)).sort();
    this.#linksTo.delete(path);
    if (file?.type !== 'file' || links.length === 0) return;
    const [heir, ...rest] = links;
    // A hardlink has no inode of its own: mode, owner and mtime are the file's.
    this.#entries.set(heir!, { type: 'file', path: heir!, mode: file.mode, uid: file.uid, gid: file.gid, mtime: file.mtime, content: file.content });
    for (const r of rest) {
      const l = this.#entries.get(r) as HardlinkEntry;
      this.#entries.set(r, { ...l, target: heir! });
    }
    if (rest.length > 0) this.#linksTo.set(heir!, new Set(rest));
  }

  #firstOwner(path: string): string | undefined {
    const owners = this.#owners.get(path);
    return typeof owners === 'string' ? owners : owners?.[0];
  }

  #setOwner(path: string, owner: string | undefined): void {
    if (owner === undefined) this.#owners.delete(path);
    else this.#owners.set(path, owner);
  }

  #addOwner(path: string, owner: string | undefined): void {
    if (owner === undefined) return;
    const owners = this.#owners.get(path);
    if (owners === undefined) this.#owners.set(path, owner);
    else if (typeof owners === 'string') {
      if (owners !== owner) this.#owners.set(path, [owners, owner]);
    } else if (!owners.includes(owner)) owners.push(owner);
  }
}

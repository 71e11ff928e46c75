import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import type { Writable } from 'node:stream';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { PithError } from '../errors.ts';

/** `$XDG_CACHE_HOME/pith`, else `~/.cache/pith`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'pith');
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * How long a temp file of a process that seems gone must have been left untouched before the store removes it. A
 * store may be shared with processes in another PID namespace (a CI container mounting the host's cache), whose
 * live writers look dead from here; a writer keeps its file's mtime fresh, and a write never pauses this long.
 */
export const STALE_TEMP_AGE_MS = 60 * 60_000;

/** The blob directories this process has cleared of stale temp files. */
const SWEPT = new Map<string, Promise<void>>();

/**
 * Content-addressed store on disk. Blobs live at `blobs/sha256/<hex>` and are re-hashed on every read, so a
 * corrupted or truncated file is treated as absent (and removed) rather than used. Named references
 * (`refs/<namespace>/<sha256 of key>`) map a key such as an InRelease URL to a blob digest for `--offline`.
 * Every write is a temp file in the target directory plus rename, so concurrent pith processes sharing the
 * store never observe a partial file: the last rename wins and both candidates hold identical bytes.
 */
export class ContentStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /**
   * Before a process first uses a store (a run opens several, one per stage): clears what writers killed
   * mid-write (a Ctrl-C during a download) left among the blobs.
   */
  private sweep(): Promise<void> {
    const blobs = resolve(this.root, 'blobs', 'sha256');
    let swept = SWEPT.get(blobs);
    if (!swept) SWEPT.set(blobs, (swept = removeStaleTemps(blobs, undefined, STALE_TEMP_AGE_MS)));
    return swept;
  }

  blobPath(sha256: string): string {
    if (!HEX64.test(sha256)) throw new PithError('CACHE_BAD_DIGEST', `expected a 64-digit lower-case hex SHA256, found "${sha256}"`);
    return join(this.root, 'blobs', 'sha256', sha256);
  }

  /** The blob's bytes if present and intact; null otherwise. */
  async get(sha256: string): Promise<Buffer | null> {
    const path = this.blobPath(sha256);
    await this.sweep();
    let data: Buffer;
    try {
      data = await fs.readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    if (sha256Hex(data) !== sha256) {
      await fs.rm(path, { force: true });
      return null;
    }
    return data;
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.get(sha256)) !== null;
  }

  /** Stores bytes; when `expected` is given they must hash to it (nothing is written otherwise). */
  async put(data: Uint8Array, expected?: string): Promise<string> {
    const digest = sha256Hex(data);
    if (expected !== undefined && digest !== expected) {
      throw new PithError('CACHE_DIGEST_MISMATCH', `refusing to cache: expected SHA256 ${expected}, found ${digest}`);
    }
    await this.sweep();
    await writeFileAtomic(this.blobPath(digest), data);
    return digest;
  }

  /**
   * The path of the blob if present and intact (hashed as a stream, so a blob of any size is checked without being
   * held); null otherwise, and a damaged blob is removed.
   */
  async getFile(sha256: string): Promise<string | null> {
    const path = this.blobPath(sha256);
    await this.sweep();
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    if (hash.digest('hex') !== sha256) {
      await fs.rm(path, { force: true });
      return null;
    }
    return path;
  }

  /**
   * Stores what `write` writes to the stream it is handed, never holding it whole: into a temp file among the blobs,
   * synced, then renamed to the SHA-256 `sha256Of` names (what the writer hashed on the way). Nothing is left
   * behind when `write` fails.
   */
  async putStream<T>(write: (out: Writable) => Promise<T>, sha256Of: (result: T) => string): Promise<{ result: T; path: string }> {
    await this.sweep();
    const dir = join(this.root, 'blobs', 'sha256');
    let tmp: string | undefined;
    try {
      await makeDirs(dir);
      tmp = tempSibling(join(dir, 'stream'));
      const result = await write(createWriteStream(tmp, { flags: 'wx', mode: 0o644, highWaterMark: 1 << 20 }));
      const handle = await fs.open(tmp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      const path = this.blobPath(sha256Of(result));
      await fs.rename(tmp, path);
      return { result, path };
    } catch (e) {
      if (tmp !== undefined) await fs.rm(tmp, { force: true });
      throw unwritable(e, dir, 'the cache directory');
    }
  }

  private refPath(namespace: string, key: string): string {
    return join(this.root, 'refs', namespace, sha256Hex(key));
  }

  async getRef(namespace: string, key: string): Promise<string | null> {
    try {
      const text = (await fs.readFile(this.refPath(namespace, key), 'utf8')).trim();
      const [digest, storedKey] = [text.slice(0, 64), text.slice(65)];
      return HEX64.test(digest) && storedKey === key ? digest : null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async setRef(namespace: string, key: string, sha256: string): Promise<void> {
    this.blobPath(sha256);
    await writeFileAtomic(this.refPath(namespace, key), `${sha256} ${key}\n`);
  }
}

/** A unique temp path beside `path`, named after it and this process: where an atomic write is prepared. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Removes what interrupted writers left in `dir` (beside `name` only, when given): temp siblings made by processes
 * that no longer run, as a killed build cannot clean up after itself. A live process's, another pith's included,
 * are left alone, and so is any touched in the last `minAgeMs`. Removal is best effort: a directory pith cannot
 * change fails the write that follows, with that write's own error.
 */
export async function removeStaleTemps(dir: string, name?: string, minAgeMs = 0): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const n of names) {
    const m = /^\.(.+)\.tmp-(\d+)-[0-9a-f]{12}$/.exec(n);
    if (!m || (name !== undefined && m[1] !== name) || processAlive(Number(m[2]))) continue;
    const path = join(dir, n);
    try {
      if (minAgeMs > 0 && now - (await fs.lstat(path)).mtimeMs < minAgeMs) continue;
      await fs.rm(path, { recursive: true, force: true });
    } catch {
      // gone already (another pith cleared it), or not ours to remove
    }
  }
}

/** Whether a process with this pid exists (one of another user's counts: EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates `dir` and its missing parents, one level at a time, each tried once. Node's recursive mkdir never
 * returns where a file system answers EEXIST for a parent and ENOENT for the child (/proc, /sys): it climbs and
 * retries forever. Here such a place fails at once, with what the system said.
 */
export async function makeDirs(dir: string, mode?: number): Promise<void> {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    const st = await fs.stat(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (st?.isDirectory()) break;
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      await fs.mkdir(d, mode === undefined ? {} : { mode });
    } catch (e) {
      // Made meanwhile by another process: fine if it is a directory. A file there keeps the OS's EEXIST.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !(await fs.stat(d)).isDirectory()) throw e;
    }
  }
}

/** What the OS's refusals to write mean, for a user who meets one. */
const REFUSALS: Record<string, string> = {
  EACCES: 'no permission to write there',
  EPERM: 'not permitted: an immutable file or directory, or a file system that takes no new entries',
  EROFS: 'a read-only file system',
  ENOTDIR: 'a part of the path is a file, not a directory',
  ENOENT: 'a directory on the way is missing, or the file system there takes no new files',
  EISDIR: 'a directory is where the file would go',
  EEXIST: 'a file is where a directory would go',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'the path has a symlink loop',
  EBUSY: 'the place is in use (a mount point?)',
};

/** Writes to an open file: their errors name no path, but can only come from the output being written. */
const WRITE_CALLS = new Set(['write', 'writev', 'fsync', 'fdatasync', 'close']);

/**
 * An error met while writing `target` (`what` says which output) as a PithError naming it, when the OS refused
 * the output itself, its temp file, or a directory on its way: an unwritable output is the user's to fix, not a
 * bug. Anything else — an error reading the bytes to write, a bug, a PithError — is returned as it is.
 */
export function unwritable(e: unknown, target: string, what: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || err.code === undefined || !(err.code in REFUSALS)) return e;
  const temp = join(dirname(target), `.${basename(target)}.tmp-`);
  const ours = (p: string) => p === target || p.startsWith(`${target}/`) || p.startsWith(temp) || target.startsWith(`${p}/`);
  const path = typeof err.path === 'string' ? resolve(err.path) : undefined;
  if (path === undefined ? !WRITE_CALLS.has(err.syscall ?? '') : !ours(path)) return e;
  return new PithError('OUTPUT_UNWRITABLE', `expected to write ${what} "${target}", found ${err.message} (${REFUSALS[err.code]}); what was there is left as it was`, { cause: e });
}

/** Writes `path` atomically: a unique temp file beside it, fsync, then rename over the target. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const target = resolve(path);
  try {
    await makeDirs(dirname(target));
    const tmp = tempSibling(target);
    const handle = await fs.open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } catch (e) {
      await handle.close();
      await fs.rm(tmp, { force: true });
      throw e;
    }
    await handle.close();
    try {
      await fs.rename(tmp, target);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
  } catch (e) {
    throw unwritable(e, target, 'the file');
  }
}

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
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

  blobPath(sha256: string): string {
    if (!HEX64.test(sha256)) throw new PithError('CACHE_BAD_DIGEST', `expected a 64-digit lower-case hex SHA256, found "${sha256}"`);
    return join(this.root, 'blobs', 'sha256', sha256);
  }

  /** The blob's bytes if present and intact; null otherwise. */
  async get(sha256: string): Promise<Buffer | null> {
    const path = this.blobPath(sha256);
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
    await writeFileAtomic(this.blobPath(digest), data);
    return digest;
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
 * are left alone.
 */
export async function removeStaleTemps(dir: string, name?: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^\.(.+)\.tmp-(\d+)-[0-9a-f]{12}$/.exec(n);
    if (!m || (name !== undefined && m[1] !== name) || processAlive(Number(m[2]))) continue;
    await fs.rm(join(dir, n), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes `path` atomically: a unique temp file beside it, fsync, then rename over the target. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempSibling(path);
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
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ContentStore, defaultCacheDir, sha256Hex } from '../cache/store.ts';
import type { ArchiveEvent } from '../debian/archive.ts';
import { readDebFile, type Deb } from '../debian/deb.ts';
import { findInSnapshot, snapshotOf, snapshotUri } from '../debian/snapshot.ts';
import { isPithError, PithError } from '../errors.ts';
import { ByteBudget, forEachBounded } from '../net/bounded.ts';
import { gatherChunks } from '../oci/blob-stream.ts';
import { fetchStream, type FetchOptions } from '../net/fetch.ts';
import type { LockedPackage, LockFile } from '../lock/lock.ts';
import type { ContentKeeper } from '../fs/content.ts';

export interface FetchDebsOptions {
  cacheDir?: string;
  offline?: boolean;
  /** Downloads in flight at once (default 6). */
  concurrency?: number;
  fetch?: Omit<FetchOptions, 'onProgress'>;
  /** Download progress, as the archive reports its index downloads (so one progress display serves both). */
  onEvent?: (event: ArchiveEvent) => void;
  /** Called with each verified .deb as soon as it is at hand (from the cache or the network). */
  onFetched?: (deb: FetchedDeb) => void;
  /**
   * Base URL of a snapshot service (`<base>/archive/<archive>/<timestamp>/`): where a locked version the live
   * archive no longer serves is fetched from — at the snapshot the lock records, else the first one the service's
   * API names. Without it, such a version is PACKAGE_GONE.
   */
  snapshot?: string;
}

export interface FetchedDeb {
  pkg: LockedPackage;
  bytes: Uint8Array;
}

/** The archive URI a locked package is fetched from: the lock records which configured suite served it. */
export function debUrl(lock: LockFile, pkg: LockedPackage): string {
  const source = lock.sources.find((s) => s.suite === pkg.suite);
  if (!source) {
    throw new PithError('LOCK_INVALID', `the lock lists ${pkg.name} ${pkg.version} from suite "${pkg.suite}", but no source with that suite`);
  }
  return `${source.uri}/${pkg.filename}`;
}

/**
 * Fetches the .debs of locked packages, in parallel up to a bound, each checked against the size and SHA256 the
 * lock pins before it is used or cached; cached blobs are re-verified on read, so a warm build never re-downloads.
 */
export async function fetchDebs(lock: LockFile, packages: LockedPackage[], options: FetchDebsOptions = {}): Promise<FetchedDeb[]> {
  const results: FetchedDeb[] = new Array(packages.length);
  await forEachDeb(lock, packages, options, 'bytes', async (pkg, { bytes }, i) => {
    results[i] = { pkg, bytes: bytes! };
    options.onFetched?.(results[i]!);
  });
  return results;
}

/**
 * Hands each locked package's verified .deb to `use` as soon as it is at hand (from the cache or the network): its
 * bytes, or with `want: 'file'` only its verified file in the cache (checked as a stream, never held). Nothing is
 * kept after `use`, and the .debs held at once stay within DEBS_IN_FLIGHT bytes, however many packages there are.
 * The first failure stops new downloads and is thrown once those in flight have settled; packages `--offline`
 * lacks are named together.
 */
async function forEachDeb(
  lock: LockFile,
  packages: LockedPackage[],
  options: FetchDebsOptions,
  want: 'bytes' | 'file',
  use: (pkg: LockedPackage, deb: { bytes?: Uint8Array; path: string }, index: number) => Promise<void>,
): Promise<void> {
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const missing: string[] = [];
  const inFlight = new ByteBudget(DEBS_IN_FLIGHT);
  await forEachBounded(packages, options.concurrency ?? 6, async (pkg, i) => {
    const label = `${pkg.name} ${pkg.version}`;
    if (want === 'file') {
      const path = await store.getFile(pkg.sha256);
      if (path !== null) options.onEvent?.({ kind: 'cache-hit', what: label });
      else if (options.offline) return void missing.push(`${pkg.name} ${pkg.version} (${debUrl(lock, pkg)})`);
      // Straight into the cache as it arrives, checked before it is named there: never held whole.
      else await downloadDeb(lock, pkg, debUrl(lock, pkg), options, (from, body) => store.putStream((out) => checkedDeb(from, pkg, body, out), () => pkg.sha256));
      return use(pkg, { path: store.blobPath(pkg.sha256) }, i);
    }
    const release = await inFlight.take(pkg.size);
    try {
      const cached = await store.get(pkg.sha256);
      if (cached) {
        options.onEvent?.({ kind: 'cache-hit', what: label });
        return await use(pkg, { bytes: cached, path: store.blobPath(pkg.sha256) }, i);
      }
      const url = debUrl(lock, pkg);
      if (options.offline) {
        missing.push(`${pkg.name} ${pkg.version} (${url})`);
        return;
      }
      const bytes = await downloadDeb(lock, pkg, url, options, async (from, body) => checkDeb(from, pkg, await gatherChunks(body)));
      await store.put(bytes, pkg.sha256);
      await use(pkg, { bytes, path: store.blobPath(pkg.sha256) }, i);
    } finally {
      release();
    }
  });
  if (missing.length > 0) {
    throw new PithError('OFFLINE_MISSING', `--offline: the cache lacks these packages:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
  }
}

/** A .deb from the archive (or, once it answers 404, a snapshot service), handed to `consume` as it arrives. */
async function downloadDeb<T>(lock: LockFile, pkg: LockedPackage, url: string, options: FetchDebsOptions, consume: (from: string, body: AsyncIterable<Uint8Array>) => Promise<T>): Promise<T> {
  const download = async (from: string): Promise<T> => {
    options.onEvent?.({ kind: 'fetch-start', url: from, size: pkg.size, label: `${pkg.name} ${pkg.version}` });
    const result = await fetchStream(from, {
      ...options.fetch,
      onProgress: (received) => options.onEvent?.({ kind: 'fetch-progress', url: from, received, size: pkg.size }),
    }, (body) => consume(from, body));
    options.onEvent?.({ kind: 'fetch-done', url: from });
    return result;
  };
  try {
    return await download(url);
  } catch (e) {
    if (!isPithError(e, 'HTTP_NOT_FOUND')) throw e;
    return download(await snapshotUrl(lock, pkg, url, e.message, options));
  }
}

/** A downloaded .deb's bytes, checked against the size and SHA256 the lock pins. */
function checkDeb(from: string, pkg: LockedPackage, bytes: Uint8Array): Uint8Array {
  checkDebDigest(from, pkg, bytes.byteLength, sha256Hex(bytes));
  return bytes;
}

/** A .deb's bytes into `out` as they arrive, checked against the lock when they end (a mismatch throws before `out` is kept). */
async function checkedDeb(from: string, pkg: LockedPackage, body: AsyncIterable<Uint8Array>, out: Writable): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(async function* () {
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > pkg.size) checkDebDigest(from, pkg, size, '');
      hash.update(chunk);
      yield chunk;
    }
  }, out);
  checkDebDigest(from, pkg, size, hash.digest('hex'));
}

function checkDebDigest(from: string, pkg: LockedPackage, size: number, sha256: string): void {
  if (size !== pkg.size) {
    throw new PithError('DEB_SIZE_MISMATCH', `${from}: expected ${pkg.size} bytes as pinned in the lock, received ${size > pkg.size ? `more (${size} so far)` : size}; nothing was cached`);
  }
  if (sha256 !== pkg.sha256) {
    throw new PithError('DEB_HASH_MISMATCH', `${from}: expected SHA256 ${pkg.sha256} as pinned in the lock, found ${sha256}; nothing was cached`);
  }
}


/**
 * Bytes of .debs held in memory at once where they are wanted whole: a few large packages (a JDK's 70 MB) at a time
 * rather than six, while small ones still go six at once.
 */
const DEBS_IN_FLIGHT = 64 * 1024 * 1024;

/** A locked package and its `.deb` as read. */
export interface ReadDeb {
  pkg: LockedPackage;
  deb: Deb;
}

/**
 * The locked packages' .debs, each read (`readDebFile`, streaming it from the cache) as soon as it is verified —
 * reading the first overlaps downloading the rest: file contents go where `keeper` puts them (to disk when large),
 * so memory holds the file trees' metadata and what is being decompressed, not the packages. In the order of
 * `packages`; `onRead` sees each in that order as soon as it and those before it are read, so a caller can use a
 * package's files and let them go while the rest are still coming.
 */
export async function fetchAndReadDebs(
  lock: LockFile,
  packages: LockedPackage[],
  options: Omit<FetchDebsOptions, 'onFetched'> & { keeper?: ContentKeeper; onRead?: (read: ReadDeb, index: number) => void } = {},
): Promise<ReadDeb[]> {
  const read: ReadDeb[] = new Array(packages.length);
  let next = 0;
  await forEachDeb(lock, packages, options, 'file', async (pkg, { path }, i) => {
    read[i] = { pkg, deb: await readDebFile(path, `${pkg.name}_${pkg.version}_${pkg.architecture}.deb`, {}, options.keeper) };
    for (; next < read.length && read[next] !== undefined; next++) options.onRead?.(read[next]!, next);
  });
  return read;
}

/**
 * Where a locked `.deb` the live archive answered 404 for is still served: the snapshot the lock records, else the
 * first one the snapshot service names. Neither → PACKAGE_GONE, saying what to do; never a bare HTTP status.
 */
async function snapshotUrl(lock: LockFile, pkg: LockedPackage, liveUrl: string, answer: string, options: FetchDebsOptions): Promise<string> {
  const what = `${pkg.name} ${pkg.version} (${pkg.architecture}, suite ${pkg.suite})`;
  // A lock made against a snapshot archive names its service in its source URI.
  const base = options.snapshot ?? snapshotOf(lock.sources.find((s) => s.suite === pkg.suite)?.uri ?? '')?.base;
  const pin = base === undefined ? undefined : (pkg.snapshot ?? (await findInSnapshot(base, pkg, { fetch: options.fetch })));
  if (base !== undefined && pin !== undefined) return `${snapshotUri(base, pin)}/${pkg.filename}`;
  const tried = base === undefined ? '' : `; the snapshot service ${base} has no ${pkg.filename} either`;
  throw new PithError(
    'PACKAGE_GONE',
    `${what}: the lock pins a version the archive no longer serves (${answer})${tried}. ` +
      (base === undefined
        ? 'To rebuild this lock as it was, name a snapshot service (archive: snapshot: URL in the spec, or --snapshot URL); '
        : '') +
      'to move on to the versions the archive serves now, run "pith update" on the spec.',
    { details: { package: pkg.name, version: pkg.version, architecture: pkg.architecture, suite: pkg.suite, url: liveUrl, ...(base !== undefined ? { snapshot: base } : {}) } },
  );
}

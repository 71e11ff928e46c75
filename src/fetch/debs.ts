import { ContentStore, defaultCacheDir, sha256Hex } from '../cache/store.ts';
import type { ArchiveEvent } from '../debian/archive.ts';
import { readDeb, type Deb } from '../debian/deb.ts';
import { findInSnapshot, snapshotOf, snapshotUri } from '../debian/snapshot.ts';
import { isPithError, PithError } from '../errors.ts';
import { forEachBounded } from '../net/bounded.ts';
import { fetchBytes, type FetchOptions } from '../net/fetch.ts';
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
  await forEachDeb(lock, packages, options, async (fetched, i) => {
    results[i] = fetched;
    options.onFetched?.(fetched);
  });
  return results;
}

/**
 * Hands each locked package's verified .deb to `use` as soon as it is at hand (from the cache or the network), and
 * keeps none: a worker takes the next package only once `use` is done with the last, so at most `concurrency`
 * .debs are held at once, however many packages there are. The first failure stops new downloads and is thrown
 * once those in flight have settled; packages `--offline` lacks are named together.
 */
async function forEachDeb(lock: LockFile, packages: LockedPackage[], options: FetchDebsOptions, use: (deb: FetchedDeb, index: number) => Promise<void>): Promise<void> {
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const missing: string[] = [];
  await forEachBounded(packages, options.concurrency ?? 6, async (pkg, i) => {
    const cached = await store.get(pkg.sha256);
    const label = `${pkg.name} ${pkg.version}`;
    if (cached) {
      options.onEvent?.({ kind: 'cache-hit', what: label });
      await use({ pkg, bytes: cached }, i);
      return;
    }
    const url = debUrl(lock, pkg);
    if (options.offline) {
      missing.push(`${pkg.name} ${pkg.version} (${url})`);
      return;
    }
    const download = async (from: string): Promise<Uint8Array> => {
      options.onEvent?.({ kind: 'fetch-start', url: from, size: pkg.size, label });
      const bytes = await fetchBytes(from, {
        ...options.fetch,
        onProgress: (received) => options.onEvent?.({ kind: 'fetch-progress', url: from, received, size: pkg.size }),
      });
      if (bytes.length !== pkg.size) {
        throw new PithError('DEB_SIZE_MISMATCH', `${from}: expected ${pkg.size} bytes as pinned in the lock, received ${bytes.length}; nothing was cached`);
      }
      const digest = sha256Hex(bytes);
      if (digest !== pkg.sha256) {
        throw new PithError('DEB_HASH_MISMATCH', `${from}: expected SHA256 ${pkg.sha256} as pinned in the lock, found ${digest}; nothing was cached`);
      }
      options.onEvent?.({ kind: 'fetch-done', url: from });
      return bytes;
    };
    let bytes: Uint8Array;
    try {
      bytes = await download(url);
    } catch (e) {
      if (!isPithError(e, 'HTTP_NOT_FOUND')) throw e;
      bytes = await download(await snapshotUrl(lock, pkg, url, e.message, options));
    }
    await store.put(bytes, pkg.sha256);
    await use({ pkg, bytes }, i);
  });
  if (missing.length > 0) {
    throw new PithError('OFFLINE_MISSING', `--offline: the cache lacks these packages:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
  }
}

/**
 * The locked packages' .debs, each read (`readDeb`) as soon as it is verified — reading the first overlaps
 * downloading the rest — and dropped once read: file contents go where `keeper` puts them (to disk when large), so
 * memory holds the file trees' metadata and a few .debs in flight, not every package. In the order of `packages`.
 */
export async function fetchAndReadDebs(lock: LockFile, packages: LockedPackage[], options: FetchDebsOptions & { keeper?: ContentKeeper } = {}): Promise<Array<{ pkg: LockedPackage; deb: Deb }>> {
  const read: Array<{ pkg: LockedPackage; deb: Deb }> = new Array(packages.length);
  await forEachDeb(lock, packages, options, async (fetched, i) => {
    options.onFetched?.(fetched);
    read[i] = { pkg: fetched.pkg, deb: await readDeb(fetched.bytes, `${fetched.pkg.name}_${fetched.pkg.version}_${fetched.pkg.architecture}.deb`, {}, options.keeper) };
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

import { ContentStore, defaultCacheDir, sha256Hex } from '../cache/store.ts';
import type { ArchiveEvent } from '../debian/archive.ts';
import { readDeb, type Deb } from '../debian/deb.ts';
import { PithError } from '../errors.ts';
import { forEachBounded } from '../net/bounded.ts';
import { fetchBytes, type FetchOptions } from '../net/fetch.ts';
import type { LockedPackage, LockFile } from '../lock/lock.ts';

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
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const results: FetchedDeb[] = new Array(packages.length);
  const missing: string[] = [];
  // The first failure stops new downloads and is thrown once those in flight have settled.
  await forEachBounded(packages, options.concurrency ?? 6, async (pkg, i) => {
    const cached = await store.get(pkg.sha256);
    const label = `${pkg.name} ${pkg.version}`;
    if (cached) {
      results[i] = { pkg, bytes: cached };
      options.onFetched?.(results[i]!);
      options.onEvent?.({ kind: 'cache-hit', what: label });
      return;
    }
    const url = debUrl(lock, pkg);
    if (options.offline) {
      missing.push(`${pkg.name} ${pkg.version} (${url})`);
      return;
    }
    options.onEvent?.({ kind: 'fetch-start', url, size: pkg.size, label });
    const bytes = await fetchBytes(url, {
      ...options.fetch,
      onProgress: (received) => options.onEvent?.({ kind: 'fetch-progress', url, received, size: pkg.size }),
    });
    if (bytes.length !== pkg.size) {
      throw new PithError('DEB_SIZE_MISMATCH', `${url}: expected ${pkg.size} bytes as pinned in the lock, received ${bytes.length}; nothing was cached`);
    }
    const digest = sha256Hex(bytes);
    if (digest !== pkg.sha256) {
      throw new PithError('DEB_HASH_MISMATCH', `${url}: expected SHA256 ${pkg.sha256} as pinned in the lock, found ${digest}; nothing was cached`);
    }
    await store.put(bytes, pkg.sha256);
    results[i] = { pkg, bytes };
    options.onFetched?.(results[i]!);
    options.onEvent?.({ kind: 'fetch-done', url });
  });
  if (missing.length > 0) {
    throw new PithError('OFFLINE_MISSING', `--offline: the cache lacks these packages:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
  }
  return results;
}

/**
 * `fetchDebs`, each .deb read (`readDeb`) as soon as it is verified, so decompressing the first packages overlaps
 * downloading the rest. In the order of `packages`.
 */
export async function fetchAndReadDebs(lock: LockFile, packages: LockedPackage[], options: FetchDebsOptions = {}): Promise<Array<{ pkg: LockedPackage; deb: Deb }>> {
  const reading = new Map<LockedPackage, Promise<Deb>>();
  const fetched = await fetchDebs(lock, packages, {
    ...options,
    onFetched: (f) => {
      options.onFetched?.(f);
      const deb = readDeb(f.bytes, `${f.pkg.name}_${f.pkg.version}_${f.pkg.architecture}.deb`);
      deb.catch(() => {}); // awaited below; a failed download must not leave this rejection unobserved
      reading.set(f.pkg, deb);
    },
  }).catch(async (e: unknown) => {
    await Promise.allSettled(reading.values());
    throw e;
  });
  return Promise.all(fetched.map(async ({ pkg }) => ({ pkg, deb: await reading.get(pkg)! })));
}

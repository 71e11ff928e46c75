/**
 * Snapshot archives: a service that keeps every state the Debian archive was ever in, each reachable as an archive
 * of its own at `<base>/archive/<archive>/<timestamp>/` (the Debian snapshot service's URL scheme; the base URI is
 * configuration, never written here). Debian's security suite keeps only the newest version of a package and point
 * releases drop superseded ones, so a lock outlives what the live archive serves; a snapshot still serves it.
 *
 * Two uses: a source whose URI is a snapshot archive (resolving against a point in time; its InRelease is verified as
 * any other, its Valid-Until, long past, is not held against it), and finding, for a locked package the live archive
 * no longer serves, the first snapshot that served it — through the service's machine-readable API
 * (`<base>/mr/binary/<name>/<version>/binfiles?fileinfo=1`).
 */
import { PithError } from '../errors.ts';
import { fetchBytes, type FetchOptions } from '../net/fetch.ts';

/** A snapshot timestamp as the service writes it: UTC, to the second. */
const TIMESTAMP = /^\d{8}T\d{6}Z$/;

/** Where a locked package sits in a snapshot service. */
export interface SnapshotPin {
  /** The archive's name in the service (`debian`, `debian-security`, …). */
  archive: string;
  /** The first snapshot that served the package's file. */
  timestamp: string;
}

/** The snapshot archive a source URI names (`…/archive/<archive>/<timestamp>[/]`), if it names one. */
export function snapshotOf(uri: string): (SnapshotPin & { base: string }) | undefined {
  const m = /^(.*)\/archive\/([A-Za-z0-9._-]+)\/(\d{8}T\d{6}Z)\/?$/.exec(uri);
  return m ? { base: m[1]!, archive: m[2]!, timestamp: m[3]! } : undefined;
}

/** The URI of one snapshot archive. */
export function snapshotUri(base: string, pin: SnapshotPin): string {
  return `${base.replace(/\/+$/, '')}/archive/${pin.archive}/${pin.timestamp}`;
}

/** Checks a snapshot service's base URI: an http(s) or file URL without the `archive/…` part. */
export function snapshotBase(value: string, where: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PithError('SNAPSHOT_INVALID', `${where}: expected the base URL of a snapshot service (http://…, https://…), found "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PithError('SNAPSHOT_INVALID', `${where}: expected an http or https URL of a snapshot service, found "${value}"`);
  }
  if (snapshotOf(value) !== undefined) {
    throw new PithError('SNAPSHOT_INVALID', `${where}: expected the service's base URL, found the snapshot archive "${value}"; drop "/archive/…" (or name that archive as a source)`);
  }
  return value.replace(/\/+$/, '');
}

/** One entry of the service's `fileinfo`: a file by its SHA-1, where and since when it was archived. */
interface FileInfo {
  name: string;
  archive_name: string;
  path: string;
  first_seen: string;
  size?: number;
}

/**
 * The first snapshot that served a package's `.deb` (`filename` as the lock records it, `pool/…/x_1.0_amd64.deb`),
 * from the service's API. Undefined when the service never had it. What is downloaded from there is still checked
 * against the lock's size and SHA256 by the caller: the API only says where to look.
 */
export async function findInSnapshot(
  base: string,
  pkg: { name: string; version: string; filename: string },
  options: { fetch?: FetchOptions } = {},
): Promise<SnapshotPin | undefined> {
  const url = `${base}/mr/binary/${encodeURIComponent(pkg.name)}/${encodeURIComponent(pkg.version)}/binfiles?fileinfo=1`;
  let body: Uint8Array;
  try {
    body = await fetchBytes(url, options.fetch);
  } catch (e) {
    if (e instanceof PithError && e.code === 'HTTP_NOT_FOUND') return undefined;
    throw e;
  }
  let parsed: { fileinfo?: Record<string, FileInfo[]> };
  try {
    parsed = JSON.parse(new TextDecoder().decode(body)) as typeof parsed;
  } catch (e) {
    throw new PithError('SNAPSHOT_INVALID', `${url}: expected the snapshot service's JSON answer, found something else (${(e as Error).message})`);
  }
  const slash = pkg.filename.lastIndexOf('/');
  const dir = `/${pkg.filename.slice(0, slash)}`;
  const file = pkg.filename.slice(slash + 1);
  const seen = Object.values(parsed.fileinfo ?? {})
    .flat()
    .filter((f) => f.name === file && f.path === dir && TIMESTAMP.test(f.first_seen) && /^[A-Za-z0-9._-]+$/.test(f.archive_name))
    .sort((a, b) => (a.first_seen < b.first_seen ? -1 : a.first_seen > b.first_seen ? 1 : 0));
  const first = seen[0];
  return first ? { archive: first.archive_name, timestamp: first.first_seen } : undefined;
}

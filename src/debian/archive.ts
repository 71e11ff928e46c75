import { gunzipSync } from 'node:zlib';
import { dirname } from 'node:path/posix';
import { ContentStore, defaultCacheDir, sha256Hex } from '../cache/store.ts';
import { isPithError, PithError } from '../errors.ts';
import { CONTENTS_FORMAT, ContentsIndex, parseContents } from './contents.ts';
import { fetchBytes, type FetchOptions } from '../net/fetch.ts';
import { PACKAGE_ROWS_FORMAT, packagesFromRows, packagesToRows, parsePackagesIndex, type BinaryPackage, type IndexOrigin } from './packages.ts';
import { loadKeyring, verifyInRelease, type ReleaseFile, type VerifiedRelease } from './release.ts';
import { PackageUniverse } from './resolve.ts';
import type { SourceEntry } from './sources.ts';
import { unxz } from './xz.ts';
import { snapshotOf } from './snapshot.ts';

export const DEFAULT_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface OpenArchiveOptions {
  sources: SourceEntry[];
  architectures: string[];
  /** Cache directory (default `$XDG_CACHE_HOME/pith`). */
  cacheDir?: string;
  /** Use only what the cache holds; name what is missing. */
  offline?: boolean;
  /** Keyring for sources without `Signed-By` (default the Debian archive keyring). */
  keyring?: string;
  now?: Date;
  fetch?: Omit<FetchOptions, 'onProgress'>;
  onEvent?: (event: ArchiveEvent) => void;
}

export type ArchiveEvent =
  | { kind: 'fetch-start'; url: string; size?: number; /** Short name for progress displays. */ label: string }
  | { kind: 'fetch-progress'; url: string; received: number; size?: number }
  | { kind: 'fetch-done'; url: string }
  | { kind: 'cache-hit'; what: string }
  | { kind: 'warning'; message: string };

/** One suite of one source, as verified. Recorded in the lock. */
export interface SuiteRelease {
  uri: string;
  suite: string;
  codename?: string;
  label?: string;
  origin?: string;
  /** `sha256:` digest of the InRelease bytes that were verified. */
  inRelease: string;
  /** The Release `Date`, ISO 8601. */
  date: string;
  validUntil?: string;
  signer: string;
  components: string[];
}

export interface Archive {
  readonly releases: SuiteRelease[];
  readonly architectures: string[];
  /** Every package of every configured index for `arch` (including `Architecture: all`). */
  packages(arch: string): BinaryPackage[];
  /** A resolver universe over `packages(arch)`, built once per architecture. */
  universe(arch: string): PackageUniverse;
  /**
   * The library paths of every configured suite's `Contents-<arch>` (for each component whose verified Release
   * lists one), fetched on first use only, since they are large, and cached in their compact filtered form.
   * Contents-all is not read: an `Architecture: all` package ships no shared objects.
   */
  contents(arch: string): Promise<ContentsIndex>;
}

interface IndexJob {
  url: string;
  release: VerifiedRelease;
  suite: SuiteRelease;
  component: string;
  architecture: string;
}

/**
 * Opens the configured archive: fetches and verifies every suite's InRelease, then every Packages index the
 * spec needs, checking size and SHA256 against the verified InRelease before anything is decompressed or parsed.
 * Verified indexes are cached by content; a warm open reads only the cache plus the (small) InRelease files.
 */
export async function openArchive(options: OpenArchiveOptions): Promise<Archive> {
  if (options.sources.length === 0) {
    throw new PithError('NO_SOURCES', 'expected at least one archive source (from the spec, --source, or the machine\'s apt sources), found none');
  }
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const ctx: Context = { options, store, missing: [] };
  const suites = options.sources.flatMap((source) => source.suites.map((suite) => ({ source, suite })));
  const opened = await Promise.all(suites.map(({ source, suite }) => openSuite(ctx, source, suite)));
  const byArch = new Map<string, BinaryPackage[]>(options.architectures.map((a) => [a, []]));
  const jobs = opened.flatMap((o) => o.jobs);
  if (ctx.missing.length === 0) {
    // Without this, an architecture no source serves would surface later as "no package named …".
    for (const arch of options.architectures.filter((a) => !jobs.some((j) => j.architecture === a))) {
      const why = suites.map(({ source, suite }, i) => `  - ${source.uri} ${suite}: ${
        source.architectures && !source.architectures.includes(arch)
          ? `limited to ${source.architectures.join(', ')} by its architectures`
          : `its Release lists ${opened[i]!.served.join(', ') || 'no architectures'}`}`);
      throw new PithError('ARCHITECTURE_NOT_SERVED', `expected a source that serves architecture "${arch}", found none:\n${why.join('\n')}`);
    }
  }
  const loaded = await Promise.all(jobs.map((job) => loadIndex(ctx, job)));
  throwIfMissing(ctx);
  jobs.forEach((job, i) => {
    const packages = loaded[i]!;
    if (job.architecture === 'all') {
      for (const list of byArch.values()) list.push(...packages);
    } else {
      byArch.get(job.architecture)!.push(...packages);
    }
  });
  const universes = new Map<string, PackageUniverse>();
  const contents = new Map<string, Promise<ContentsIndex>>();
  const packages = (arch: string): BinaryPackage[] => {
    const list = byArch.get(arch);
    if (!list) throw new PithError('UNKNOWN_ARCHITECTURE', `architecture "${arch}" was not loaded; loaded: ${options.architectures.join(', ')}`);
    return list;
  };
  return {
    releases: opened.map((o) => o.suite),
    architectures: [...options.architectures],
    packages,
    universe(arch) {
      let u = universes.get(arch);
      if (!u) {
        u = new PackageUniverse(packages(arch), { architecture: arch });
        universes.set(arch, u);
      }
      return u;
    },
    contents(arch) {
      let c = contents.get(arch);
      if (!c) {
        c = loadContents({ options, store, missing: [] }, opened, arch);
        contents.set(arch, c);
        c.catch(() => contents.delete(arch));
      }
      return c;
    },
  };
}

function throwIfMissing(ctx: Context): void {
  if (ctx.missing.length === 0) return;
  throw new PithError(
    'OFFLINE_MISSING',
    `--offline: the cache at ${ctx.store.root} lacks what is needed:\n${ctx.missing.map((m) => `  - ${m}`).join('\n')}\nRun once without --offline to fill it.`,
  );
}

interface Context {
  options: OpenArchiveOptions;
  store: ContentStore;
  missing: string[];
}

interface OpenedSuite {
  suite: SuiteRelease;
  /** Absent when --offline found no cached InRelease (recorded in `missing`). */
  release?: VerifiedRelease;
  /** `<uri>/dists/<suite>` */
  base: string;
  jobs: IndexJob[];
  /** The architectures its Release lists (empty when unknown offline). */
  served: string[];
}

async function openSuite(ctx: Context, source: SourceEntry, suiteName: string): Promise<OpenedSuite> {
  const { options, store } = ctx;
  const base = `${source.uri}/dists/${suiteName}`;
  const url = `${base}/InRelease`;
  const snapshot = snapshotOf(source.uri);
  const keyring = await loadKeyring(source.signedBy ?? options.keyring ?? DEFAULT_KEYRING);
  let bytes: Uint8Array | null;
  if (options.offline) {
    const digest = await store.getRef('inrelease', url);
    bytes = digest ? await store.get(digest) : null;
    if (!bytes) {
      ctx.missing.push(`InRelease of ${url}`);
      return { suite: placeholderSuite(source, suiteName), base, jobs: [], served: [] };
    }
    options.onEvent?.({ kind: 'cache-hit', what: url });
  } else {
    options.onEvent?.({ kind: 'fetch-start', url, label: `${suiteName}/InRelease` });
    bytes = await fetchBytes(url, options.fetch);
    options.onEvent?.({ kind: 'fetch-done', url });
  }
  let release: VerifiedRelease;
  try {
    release = await verifyInRelease(bytes, { keyring, url, suite: suiteName, now: options.now, ignoreValidUntil: snapshot !== undefined });
  } catch (e) {
    // Offline, an expired Valid-Until means our cached copy is old, not that the mirror is stale.
    if (options.offline && isPithError(e, 'RELEASE_EXPIRED')) {
      throw new PithError('RELEASE_EXPIRED', `${e.message}; this copy came from the cache: run once without --offline to refresh it`, { cause: e });
    }
    throw e;
  }
  if (snapshot !== undefined && release.validUntil !== undefined && release.validUntil.getTime() < (options.now ?? new Date()).getTime()) {
    options.onEvent?.({
      kind: 'warning',
      message: `${url}: Valid-Until ${release.validUntil.toISOString()} has passed; ignored because this is a snapshot archive (frozen at ${snapshot.timestamp}), whose signature is still checked`,
    });
  }
  if (!options.offline) {
    await store.setRef('inrelease', url, await store.put(bytes));
  }
  const suite: SuiteRelease = {
    uri: source.uri,
    suite: suiteName,
    codename: release.codename,
    label: release.label,
    origin: release.origin,
    inRelease: `sha256:${release.digest}`,
    date: release.date.toISOString(),
    validUntil: release.validUntil?.toISOString(),
    signer: release.signer,
    components: source.components,
  };
  const jobs: IndexJob[] = [];
  for (const component of source.components) {
    // Judge by the files listed, as apt does: the security archive lists "updates/main" in Components but serves main/.
    const served = [...release.files.keys()].some((f) => f.startsWith(`${component}/binary-`));
    if (!served && !release.components.includes(component)) {
      throw new PithError(
        'COMPONENT_MISSING',
        `${url}: component "${component}" (from ${source.where ?? 'the sources'}) is not served; the Release lists: ${release.components.join(', ')}`,
      );
    }
    const wanted = options.architectures.filter((a) => !source.architectures || source.architectures.includes(a));
    // Without No-Support-for-Architecture-all, arch:all packages live in their own binary-all index (apt fetches it).
    if (!release.noSupportForArchitectureAll && release.architectures.includes('all')) wanted.push('all');
    for (const architecture of wanted) {
      if (architecture !== 'all' && release.architectures.length > 0 && !release.architectures.includes(architecture)) {
        options.onEvent?.({ kind: 'warning', message: `${url}: architecture ${architecture} is not served; skipped` });
        continue;
      }
      jobs.push({ url: base, release, suite, component, architecture });
    }
  }
  return { suite, release, base, jobs, served: release.architectures };
}

function placeholderSuite(source: SourceEntry, suite: string): SuiteRelease {
  return { uri: source.uri, suite, inRelease: '', date: '', signer: '', components: source.components };
}

/** Bounds a decompressed index, so a decompression bomb fails before it exhausts memory (Debian's largest is under 100 MB). */
const MAX_INDEX_BYTES = 1024 ** 3;

const COMPRESSIONS = [
  { ext: '.xz', decompress: (b: Uint8Array, maxOutput: number) => unxz(b, { maxOutput }) },
  { ext: '.gz', decompress: async (b: Uint8Array, maxOutput: number) => new Uint8Array(gunzipSync(b, { maxOutputLength: maxOutput })) },
  { ext: '', decompress: async (b: Uint8Array) => b },
];

type Variant = (typeof COMPRESSIONS)[number] & { file: ReleaseFile };

/** The compressed forms of `path` the verified Release lists (preferred first), and the uncompressed entry. */
function listedVariants(release: VerifiedRelease, path: string): { plain?: ReleaseFile; variants: Variant[] } {
  const variants = COMPRESSIONS.map((c) => ({ ...c, file: release.files.get(path + c.ext) })).filter((v): v is Variant => v.file !== undefined);
  return { plain: release.files.get(path), variants };
}

async function loadIndex(ctx: Context, job: IndexJob): Promise<BinaryPackage[]> {
  const { store, options } = ctx;
  const path = `${job.component}/binary-${job.architecture}/Packages`;
  const origin: IndexOrigin = {
    uri: job.suite.uri,
    suite: job.suite.suite,
    codename: job.suite.codename,
    label: job.suite.label,
    origin: job.suite.origin,
    component: job.component,
    architecture: job.architecture,
  };
  const { plain, variants } = listedVariants(job.release, path);
  if (variants.length === 0) {
    throw new PithError('INDEX_MISSING', `${job.url}/InRelease lists no ${path}{.xz,.gz,} index`);
  }
  const where = `${job.url}/${path}`;
  // Parsed indexes are cached under the SHA256 the verified Release lists for the index (uncompressed when listed).
  const indexKey = (plain ?? variants[0]!.file).sha256;
  const cachedRows = await store.getRef(PACKAGE_ROWS_FORMAT, indexKey);
  const rows = cachedRows ? await store.get(cachedRows) : null;
  const fromRows = rows ? packagesFromRows(rows.toString('utf8'), origin) : null;
  if (fromRows) {
    options.onEvent?.({ kind: 'cache-hit', what: where });
    return fromRows;
  }
  for (const variant of variants) {
    const raw = await store.get(variant.file.sha256);
    if (raw) return await decodeIndex(ctx, raw, variant, plain, origin, where, job.url, indexKey);
  }
  if (options.offline) {
    ctx.missing.push(`index ${where} (SHA256 ${indexKey})`);
    return [];
  }
  const { body, variant, url } = await fetchListed(ctx, job.url, job.release, variants, job.suite.suite);
  const packages = await decodeIndex(ctx, body, variant, plain, origin, url, job.url, indexKey);
  // Cache the index as fetched only after it decoded and parsed: a broken index must not poison later runs.
  await store.put(body, variant.file.sha256);
  return packages;
}

/**
 * Fetches the first of `variants` the mirror serves (by hash when the Release offers it, else by name; a 404
 * moves on to the next) and checks its size and SHA256 against the verified Release before returning it.
 */
async function fetchListed(ctx: Context, base: string, release: VerifiedRelease, variants: Variant[], suiteName: string): Promise<{ body: Uint8Array; variant: Variant; url: string }> {
  const { options } = ctx;
  let lastNotFound: PithError | undefined;
  for (const variant of variants) {
    const byHash = `${base}/${dirname(variant.file.path)}/by-hash/SHA256/${variant.file.sha256}`;
    const urls = release.acquireByHash ? [byHash, `${base}/${variant.file.path}`] : [`${base}/${variant.file.path}`];
    for (const url of urls) {
      let body: Uint8Array;
      try {
        options.onEvent?.({ kind: 'fetch-start', url, size: variant.file.size, label: `${suiteName}/${variant.file.path}` });
        body = await fetchBytes(url, {
          ...options.fetch,
          onProgress: (received, size) => options.onEvent?.({ kind: 'fetch-progress', url, received, size: size ?? variant.file.size }),
        });
        options.onEvent?.({ kind: 'fetch-done', url });
      } catch (e) {
        if (isPithError(e, 'HTTP_NOT_FOUND')) {
          lastNotFound = e;
          continue;
        }
        throw e;
      }
      verifyFile(body, variant.file, url, base);
      return { body, variant, url };
    }
  }
  throw lastNotFound ?? new PithError('INDEX_MISSING', `${base}/${variants[0]?.file.path}: no index could be fetched`);
}

/**
 * The library rows of `Contents-<arch>` across the opened suites and their components. Each file is cached by the
 * SHA256 its verified Release lists, in the compact form only: the full index is never stored.
 */
async function loadContents(ctx: Context, opened: OpenedSuite[], arch: string): Promise<ContentsIndex> {
  const jobs: Array<Promise<ContentsIndex>> = [];
  for (const o of opened) {
    if (!o.release) continue;
    for (const component of o.suite.components) {
      const path = `${component}/Contents-${arch}`;
      const listed = listedVariants(o.release, path);
      if (listed.variants.length === 0) {
        ctx.options.onEvent?.({ kind: 'warning', message: `${o.base}/InRelease lists no ${path}; libraries in ${o.suite.suite}/${component} cannot be looked up` });
        continue;
      }
      jobs.push(loadContentsFile(ctx, o, path, listed.plain, listed.variants));
    }
  }
  const indexes = await Promise.all(jobs);
  throwIfMissing(ctx);
  return ContentsIndex.merge(indexes);
}

async function loadContentsFile(ctx: Context, o: OpenedSuite, path: string, plain: ReleaseFile | undefined, variants: Variant[]): Promise<ContentsIndex> {
  const { store, options } = ctx;
  const where = `${o.base}/${path}`;
  const key = (plain ?? variants[0]!.file).sha256;
  const cached = await store.getRef(CONTENTS_FORMAT, key);
  const text = cached ? await store.get(cached) : null;
  if (text) {
    options.onEvent?.({ kind: 'cache-hit', what: where });
    return ContentsIndex.fromText(text.toString('utf8'), [where]);
  }
  if (options.offline) {
    ctx.missing.push(`index ${where} (SHA256 ${key})`);
    return new ContentsIndex(new Map(), []);
  }
  const { body, variant, url } = await fetchListed(ctx, o.base, o.release!, variants, o.suite.suite);
  const index = parseContents(await decompressVerified(body, variant, plain, url, o.base), where);
  await store.setRef(CONTENTS_FORMAT, key, await store.put(Buffer.from(index.toText())));
  return index;
}

/** Decompresses a verified index, checks the result against the Release too, parses it and caches the rows. */
async function decodeIndex(
  ctx: Context,
  body: Uint8Array,
  variant: Pick<Variant, 'decompress'>,
  plain: ReleaseFile | undefined,
  origin: IndexOrigin,
  where: string,
  releaseUrl: string,
  indexKey: string,
): Promise<BinaryPackage[]> {
  const text = await decompressVerified(body, variant, plain, where, releaseUrl);
  const packages = parsePackagesIndex(Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8'), origin, where);
  const rowsDigest = await ctx.store.put(Buffer.from(packagesToRows(packages)));
  await ctx.store.setRef(PACKAGE_ROWS_FORMAT, indexKey, rowsDigest);
  return packages;
}

/** Decompresses a file whose compressed bytes were verified, and checks the result against the Release too. */
async function decompressVerified(
  body: Uint8Array,
  variant: Pick<Variant, 'decompress'>,
  plain: ReleaseFile | undefined,
  where: string,
  releaseUrl: string,
): Promise<Uint8Array> {
  let text: Uint8Array;
  try {
    text = await variant.decompress(body, MAX_INDEX_BYTES);
  } catch (e) {
    throw new PithError('INDEX_CORRUPT', `${where}: matched its SHA256 but does not decompress: ${(e as Error).message}`, { cause: e });
  }
  if (plain) verifyFile(text, plain, `${where} (decompressed)`, releaseUrl);
  return text;
}

function verifyFile(body: Uint8Array, expected: ReleaseFile, url: string, releaseUrl: string): void {
  if (body.length !== expected.size) {
    throw new PithError(
      'INDEX_SIZE_MISMATCH',
      `${url}: expected ${expected.size} bytes as listed in ${releaseUrl}/InRelease, received ${body.length}; nothing was cached`,
    );
  }
  const digest = sha256Hex(body);
  if (digest !== expected.sha256) {
    throw new PithError(
      'INDEX_HASH_MISMATCH',
      `${url}: expected SHA256 ${expected.sha256} as listed in ${releaseUrl}/InRelease, found ${digest}; nothing was cached`,
    );
  }
}

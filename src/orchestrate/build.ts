import { existsSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContentStore, defaultCacheDir, sha256Hex } from '../cache/store.ts';
import { canonicalJson } from '../json.ts';
import { GZIP_SETTINGS } from '../oci/gzip.ts';
import { loadSpec, type LoadedSpec } from '../config/spec.ts';
import type { ArchiveEvent } from '../debian/archive.ts';
import { readDeb, type Deb } from '../debian/deb.ts';
import { PithError, isPithError } from '../errors.ts';
import type { FsEntry } from '../fs/entry.ts';
import { FsTree } from '../fs/tree.ts';
import { lock, loadLockFor, lockPathFor, readLock, type LockedPackage, type LockFile } from '../lock/lock.ts';
import { buildImage, buildIndex, layerFromBlob, layerFromEntries, platformForDebianArch, type Image, type ImageIndex, type Layer, type LayerBlobCache } from '../oci/image.ts';
import type { Digest } from '../oci/digest.ts';
import { parseDestination, writeImage, formatDestination, type Destination } from '../oci/transport.ts';
import type { RegistryOptions } from '../registry/client.ts';
import { applyAccounts } from '../assemble/accounts.ts';
import { applyAlternatives } from '../maintscript/alternatives.ts';
import { buildCaBundle } from '../assemble/certificates.ts';
import { fetchAndReadDebs, fetchDebs } from '../fetch/debs.ts';
import { applyTimezone } from '../assemble/localtime.ts';
import { trimPaths } from '../assemble/paths.ts';
import { scriptReport } from '../maintscript/report.ts';
import { digestOfSources } from '../cache/source-digest.ts';
import { AVAILABLE, writeAvailable, writeFileLists, writeStatusD } from '../assemble/status.ts';
import { AVAILABLE_LAYER, SPEC_FILES_LAYER } from '../assemble/layer-names.ts';
import { readSpecFiles } from '../config/files.ts';
import { verifyLibraries, type LibrariesMode, type LibraryClosure, type LibraryProvision } from '../libraries/closure.ts';

export { readSpecFiles };

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_LAYER_BUDGET = 20;

export interface BuildOptions {
  /** Destinations (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME:TAG]`); default `oci:<spec dir>/out:<name>`. */
  outputs?: string[];
  /** Architectures to build (default: every architecture in the lock). */
  architectures?: string[];
  /** Lock file (default `pith.lock` beside the spec; created when missing). */
  lockPath?: string;
  cacheDir?: string;
  offline?: boolean;
  /** Overrides the epoch taken from the lock (the newest Release date); `SOURCE_DATE_EPOCH` in the CLI. */
  sourceDateEpoch?: number;
  /** Downloads (indexes when the lock is made, then .debs) and warnings, as `lock` reports them. */
  onEvent?: (event: ArchiveEvent) => void;
  /** Registry references pushed to after the outputs are written (`docker://REF` outputs, in addition to them). */
  push?: string[];
  /** For pushes: insecure registries, credentials, parallelism. */
  registry?: RegistryOptions;
}

export interface LayerReport {
  digest: string;
  /** Compressed, as pulled. */
  size: number;
  /** The uncompressed tar, as unpacked on a node. */
  uncompressedSize: number;
  diffId: string;
  /** What the layer holds: `source:NAME`, `packages`, `pith`, `files`, `filesystem`. */
  comment: string;
  packages: string[];
  /** The compressed blob came from the cache (the same tar was compressed before): no compression ran for it. */
  cached: boolean;
}

export interface ArchBuild {
  architecture: string;
  digest: string;
  /** The layers came from the build cache (an identical earlier build). */
  cached: boolean;
  layers: LayerReport[];
  /** Sums over the layers. */
  size: { compressed: number; uncompressed: number };
  trimmed: Array<{ path: string; owner?: string; rule: string }>;
  scripts: Array<{ package: string; script: string; covered: string | null; note?: string }>;
  excluded: LockFile['architectures'][string]['excluded'];
  /** The spec's ELF files' library closure, as verified in the image, and the packages the lock added for it. */
  libraries: { mode: LibrariesMode; files: LibraryClosure[]; added: LibraryProvision[] };
}

export interface BuildResult {
  /** The image digest: the index digest when several architectures were built. */
  digest: string;
  outputs: string[];
  sourceDateEpoch: number;
  lockPath: string;
  lockCreated: boolean;
  architectures: ArchBuild[];
  image: Image | ImageIndex;
}

/**
 * `pith build`: spec + lock → verified .debs → one in-memory filesystem per architecture (no maintainer script
 * ever runs; pith writes what they would have) → deterministic layers grouped by Debian source package → image
 * (an index when multi-arch) → every output, each written atomically.
 */
export async function build(specFile: string | LoadedSpec, options: BuildOptions = {}): Promise<BuildResult> {
  const loaded = typeof specFile === 'string' ? loadSpec(specFile) : specFile;
  const { spec } = loaded;
  const lockPath = options.lockPath ? resolvePath(options.lockPath) : lockPathFor(loaded.path);
  // Read once: the lock's library closure and the image both need them (and a missing file fails before any download).
  const files = readSpecFiles(loaded, 0);
  let lockFile: LockFile;
  let lockCreated = false;
  if (!existsSync(lockPath)) {
    if (options.lockPath) readLock(lockPath); // a lock named explicitly must exist: raises LOCK_NOT_FOUND
    lockFile = (await lock(loaded, { cacheDir: options.cacheDir, offline: options.offline, onEvent: options.onEvent, specFiles: files })).lock;
    lockCreated = true;
  } else {
    lockFile = loadLockFor(loaded, lockPath, undefined, files);
  }
  const destinations: Destination[] = (options.outputs?.length ? options.outputs : [`oci:${join(loaded.dir, 'out')}:${spec.name}`]).map(parseDestination);
  for (const ref of options.push ?? []) destinations.push(parseDestination(`docker://${ref.replace(/^docker:\/\//, '')}`));
  const architectures = options.architectures?.length ? options.architectures : Object.keys(lockFile.architectures).sort();
  for (const arch of architectures) {
    if (!lockFile.architectures[arch]) {
      throw new PithError('UNKNOWN_ARCHITECTURE', `${lockPath}: expected a locked architecture, found no "${arch}"; the lock has ${Object.keys(lockFile.architectures).join(', ')} (add it to the spec's architectures and re-lock)`);
    }
  }
  const sourceDateEpoch = options.sourceDateEpoch ?? epochFromLock(lockFile);
  const specFiles = files.map((f) => ({ ...f, mtime: sourceDateEpoch }));

  const images: Image[] = [];
  const reports: ArchBuild[] = [];
  for (const arch of architectures) {
    const { image, report } = await buildArch(loaded, lockFile, arch, specFiles, sourceDateEpoch, options);
    images.push(image);
    reports.push(report);
  }
  const image: Image | ImageIndex = images.length === 1 ? images[0]! : buildIndex(images);
  for (const dest of destinations) await writeImage(dest, image, options.registry);
  return {
    digest: image.digest,
    outputs: destinations.map(formatDestination),
    sourceDateEpoch,
    lockPath,
    lockCreated,
    architectures: reports,
    image,
  };
}

/** The newest Release date in the lock: stable across days, and moving only when the lock does. */
export function epochFromLock(lockFile: LockFile): number {
  const dates = lockFile.sources.map((s) => Date.parse(s.date)).filter((d) => !Number.isNaN(d));
  if (dates.length === 0) throw new PithError('LOCK_INVALID', 'expected Release dates in the lock\'s sources, found none');
  return Math.floor(Math.max(...dates) / 1000);
}

async function buildArch(
  loaded: LoadedSpec,
  lockFile: LockFile,
  arch: string,
  specFiles: FsEntry[],
  sourceDateEpoch: number,
  options: BuildOptions,
): Promise<{ image: Image; report: ArchBuild }> {
  const { spec } = loaded;
  const locked = [...lockFile.architectures[arch]!.packages].sort((a, b) => cmp(a.name, b.name));
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const baseFiles = lockFile.architectures[arch]!.baseFiles;
  const key = buildKey(loaded, baseFiles ? [...locked, baseFiles] : locked, arch, specFiles, sourceDateEpoch);
  const cached = await loadBuild(store, key);
  const assembled = cached ?? (await assemble(loaded, lockFile, locked, arch, specFiles, sourceDateEpoch, options));
  if (!cached) await saveBuild(store, key, assembled);
  const env = [`PATH=${DEFAULT_PATH}`, ...Object.entries(spec.env ?? {}).filter(([k]) => k !== 'PATH').map(([k, v]) => `${k}=${v}`)];
  if (spec.env?.PATH) env[0] = `PATH=${spec.env.PATH}`;
  const platform = platformForDebianArch(arch);
  const image = await buildImage({
    layers: assembled.layers,
    config: {
      architecture: platform.architecture,
      variant: platform.variant,
      os: 'linux',
      user: assembled.user,
      env,
      entrypoint: spec.entrypoint,
      cmd: spec.cmd,
      workingDir: spec.workdir,
      exposedPorts: spec.expose,
      labels: spec.labels,
    },
    sourceDateEpoch,
    annotations: { 'org.opencontainers.image.title': spec.name, ...(spec.annotations ?? {}) },
  });
  const layers: LayerReport[] = image.layers.map((l, i) => ({
    digest: l.digest,
    size: l.size,
    uncompressedSize: l.uncompressedSize!,
    diffId: l.diffId,
    comment: assembled.layerInfo[i]!.comment,
    packages: assembled.layerInfo[i]!.packages,
    cached: assembled.blobsFromCache.has(l.diffId),
  }));
  const report: ArchBuild = {
    architecture: arch,
    digest: image.digest,
    cached: cached !== null,
    layers,
    size: { compressed: layers.reduce((n, l) => n + l.size, 0), uncompressed: layers.reduce((n, l) => n + l.uncompressedSize, 0) },
    trimmed: assembled.trimmed,
    scripts: assembled.scripts,
    excluded: lockFile.architectures[arch]!.excluded,
    libraries: {
      mode: spec.libraries ?? 'auto',
      files: assembled.libraries,
      added: (lockFile.architectures[arch]!.libraries?.provides ?? []).filter((p) => p.added),
    },
  };
  return { image, report };
}

/** What assembling one architecture produces: everything the image needs except its config. */
interface Assembled {
  layers: Layer[];
  layerInfo: Array<{ comment: string; packages: string[] }>;
  user: string;
  trimmed: ArchBuild['trimmed'];
  scripts: ArchBuild['scripts'];
  libraries: LibraryClosure[];
  /** diffIds of the layers whose compressed blob came from the cache. */
  blobsFromCache: ReadonlySet<Digest>;
}

async function assemble(
  loaded: LoadedSpec,
  lockFile: LockFile,
  locked: LockedPackage[],
  arch: string,
  specFiles: FsEntry[],
  sourceDateEpoch: number,
  options: BuildOptions,
): Promise<Assembled> {
  const { spec } = loaded;
  const debs = await fetchAndReadDebs(lockFile, locked, { cacheDir: options.cacheDir, offline: options.offline, onEvent: options.onEvent });

  const tree = new FsTree({ mergedUsr: true });
  const replacesOf = new Map(debs.map(({ pkg, deb }) => [pkg.name, relationNames(deb.control['replaces'])]));
  for (const { pkg, deb } of debs) unpack(tree, pkg, deb, replacesOf);

  const trimmed = trimPaths(tree, { exclude: spec.paths?.exclude, keep: spec.paths?.keep });
  // After trimming, as dpkg's path-exclude would: update-alternatives links no slave to a trimmed man page.
  const alternatives = applyAlternatives(tree, debs.map(({ pkg, deb }) => ({ name: pkg.name, architecture: pkg.architecture, control: deb.control, controlFiles: deb.controlFiles })), { architecture: arch, sourceDateEpoch });
  const accounts = applyAccounts(tree, spec.accounts, { sourceDateEpoch });
  const ca = buildCaBundle(tree, { sourceDateEpoch });
  const tz = applyTimezone(tree, spec.timezone ?? 'UTC', { sourceDateEpoch });
  writeStatusD(
    tree,
    debs.map(({ pkg, deb }) => ({ control: deb.control, controlFiles: deb.controlFiles, name: pkg.name, architecture: pkg.architecture, multiArch: deb.control['multi-arch'] })),
    { sourceDateEpoch },
  );
  writeAvailable(tree, locked, { sourceDateEpoch });
  await addOsRelease(tree, lockFile, arch, locked, options);
  const covered: Record<string, string> = { ...alternatives.covered };
  if (ca) covered['ca-certificates'] = `CA bundle built by pith (${ca.certificates} certificates)`;
  if (tz) covered['tzdata'] = '/etc/localtime written by pith';
  const scripts = scriptReport(debs.map(({ pkg, deb }) => ({ name: pkg.name, controlFiles: deb.controlFiles })), covered, alternatives.notes);
  for (const f of specFiles) tree.add(f, undefined, { replaces: true });
  const libraries = spec.libraries === 'off' ? [] : verifyLibraries(tree, specFiles, arch);
  writeFileLists(tree, locked.map((p) => p.name), { sourceDateEpoch });

  const planned = groupLayers(tree, locked, specFiles, spec.layers?.budget ?? DEFAULT_LAYER_BUDGET);
  const blobCache = layerBlobCache(new ContentStore(options.cacheDir ?? defaultCacheDir()));
  const layers = await Promise.all(planned.map((l) => layerFromEntries(l.entries, { sourceDateEpoch, comment: l.comment, blobCache })));
  return {
    layers,
    layerInfo: planned.map((l) => ({ comment: l.comment, packages: l.packages })),
    user: accounts.user,
    trimmed,
    scripts,
    libraries,
    blobsFromCache: blobCache.hits,
  };
}

const BUILD_FORMAT = 'build-v2';
/** Defined by the bundler (scripts/bundle.ts) as the digest of the sources it bundled; absent when run from src/. */
declare const PITH_SOURCE_DIGEST: string | undefined;
let sourceDigest: string | undefined;

/**
 * Everything that decides the layers' bytes: the exact packages, the spec fields the tree depends on, the spec's
 * files, the epoch, the gzip settings, and pith's own source (so a changed rule never serves a stale layer).
 * The image config is not in it: it is rebuilt on every run, which costs nothing.
 */
function buildKey(loaded: LoadedSpec, locked: LockedPackage[], arch: string, specFiles: FsEntry[], sourceDateEpoch: number): string {
  const { spec } = loaded;
  sourceDigest ??= typeof PITH_SOURCE_DIGEST === 'string' ? PITH_SOURCE_DIGEST : digestOfSources(join(dirname(fileURLToPath(import.meta.url)), '..'));
  return sha256Hex(
    canonicalJson({
      format: BUILD_FORMAT,
      pith: sourceDigest,
      gzip: GZIP_SETTINGS,
      arch,
      sourceDateEpoch,
      packages: locked.map((p) => `${p.name} ${p.version} ${p.architecture} ${p.sha256}`),
      spec: { accounts: spec.accounts, paths: spec.paths, layers: spec.layers, timezone: spec.timezone, libraries: spec.libraries },
      files: specFiles.map((f) => (f.type === 'file' ? { ...f, content: sha256Hex(f.content) } : f)),
    }),
  );
}

interface BuildRecord {
  format: string;
  layers: Array<{ blob: string; diffId: Digest; uncompressedSize: number; comment: string; packages: string[] }>;
  user: string;
  trimmed: ArchBuild['trimmed'];
  scripts: ArchBuild['scripts'];
  libraries: LibraryClosure[];
}

/** A previous identical build's layers, each blob verified on read; null when anything is missing. */
async function loadBuild(store: ContentStore, key: string): Promise<Assembled | null> {
  const recordDigest = await store.getRef(BUILD_FORMAT, key);
  const recordBytes = recordDigest ? await store.get(recordDigest) : null;
  if (!recordBytes) return null;
  const record = JSON.parse(recordBytes.toString('utf8')) as BuildRecord;
  if (record.format !== BUILD_FORMAT) return null;
  const layers: Layer[] = [];
  for (const l of record.layers) {
    const blob = await store.get(l.blob);
    if (!blob) return null;
    layers.push(layerFromBlob(new Uint8Array(blob), { diffId: l.diffId, uncompressedSize: l.uncompressedSize, history: l.comment }));
  }
  return {
    layers,
    layerInfo: record.layers.map((l) => ({ comment: l.comment, packages: l.packages })),
    user: record.user,
    trimmed: record.trimmed,
    scripts: record.scripts,
    libraries: record.libraries ?? [],
    blobsFromCache: new Set(layers.map((l) => l.diffId)),
  };
}

/** Records a build; its layer blobs are in the store already, put there (or found there) by `layerBlobCache`. */
async function saveBuild(store: ContentStore, key: string, assembled: Assembled): Promise<void> {
  const layers = assembled.layers.map((l, i) => ({
    blob: l.digest.slice('sha256:'.length),
    diffId: l.diffId,
    uncompressedSize: l.uncompressedSize!,
    comment: assembled.layerInfo[i]!.comment,
    packages: assembled.layerInfo[i]!.packages,
  }));
  const record: BuildRecord = { format: BUILD_FORMAT, layers, user: assembled.user, trimmed: assembled.trimmed, scripts: assembled.scripts, libraries: assembled.libraries };
  await store.setRef(BUILD_FORMAT, key, await store.put(Buffer.from(JSON.stringify(record))));
}

const LAYER_BLOB_FORMAT = 'layer-gzip-v1';

/**
 * Beneath the whole-build record, each layer's compressed blob is cached by its diffId and the gzip settings (all
 * that determines its bytes), so a build in which one package changed compresses only that package's layer again.
 * The store re-hashes a blob on every read; a ref to a missing or damaged blob is a miss.
 */
function layerBlobCache(store: ContentStore): LayerBlobCache & { hits: Set<Digest> } {
  const hits = new Set<Digest>();
  const key = (diffId: Digest) => `${GZIP_SETTINGS} ${diffId}`;
  return {
    hits,
    async get(diffId) {
      const digest = await store.getRef(LAYER_BLOB_FORMAT, key(diffId));
      const blob = digest ? await store.get(digest) : null;
      if (!blob) return null;
      hits.add(diffId);
      return new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength);
    },
    async put(diffId, blob) {
      await store.setRef(LAYER_BLOB_FORMAT, key(diffId), await store.put(blob));
    },
  };
}

/** What base-files contributes when it is not installed: the files that say which OS and release this is. */
const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release', '/etc/debian_version'];

/**
 * Scanners identify the distribution from /etc/os-release and /etc/debian_version. When the image does not install
 * base-files (minimal images rarely need its other contents), pith copies just those from the archive's base-files
 * the lock pinned, as distroless does.
 */
async function addOsRelease(tree: FsTree, lockFile: LockFile, arch: string, locked: LockedPackage[], options: BuildOptions): Promise<void> {
  const pinned = lockFile.architectures[arch]!.baseFiles;
  if (!pinned || locked.some((p) => p.name === 'base-files')) return;
  const [{ bytes }] = await fetchDebs(lockFile, [pinned], { cacheDir: options.cacheDir, offline: options.offline, onEvent: options.onEvent });
  const deb = await readDeb(bytes!, `${pinned.name}_${pinned.version}_${pinned.architecture}.deb`);
  for (const entry of deb.entries) {
    if (OS_RELEASE_PATHS.includes(entry.path) && entry.type !== 'dir' && tree.get(entry.path) === undefined) tree.add(entry);
  }
}

/** Adds a package's files; on a clash, the package that `Replaces` the other wins, in whichever order they come. */
function unpack(tree: FsTree, pkg: LockedPackage, deb: Deb, replacesOf: Map<string, Set<string>>): void {
  const mine = replacesOf.get(pkg.name)!;
  for (const entry of deb.entries) {
    const existingOwner = entry.type === 'dir' ? undefined : tree.owner(entry.path);
    if (existingOwner && existingOwner !== pkg.name && tree.get(entry.path)?.type !== 'dir') {
      if (mine.has(existingOwner)) {
        tree.add(entry, pkg.name, { replaces: true });
        continue;
      }
      if (replacesOf.get(existingOwner)?.has(pkg.name)) continue;
    }
    try {
      tree.add(entry, pkg.name);
    } catch (e) {
      if (isPithError(e)) throw new PithError(e.code, `${pkg.name} ${pkg.version}: ${e.message}`, { cause: e, details: e.details });
      throw e;
    }
  }
}

function relationNames(field: string | undefined): Set<string> {
  if (!field) return new Set();
  return new Set(field.split(/[,|]/).map((part) => part.trim().split(/[\s(:[]/)[0]!).filter((n) => n !== ''));
}

interface PlannedLayer {
  comment: string;
  packages: string[];
  entries: FsEntry[];
}

/**
 * Layers, bottom first: the directory skeleton (every directory and the merged-/usr links, so modes are right
 * whatever layer a file arrives in); one layer per Debian source package, the largest ones, up to the budget;
 * one shared layer for the remaining packages; what pith wrote (accounts, CA bundle, …); /var/lib/dpkg/available;
 * the spec's own files. Each package's dpkg metadata (status.d, info/<package>.list, owned by the package) sits in
 * its layer, so a fix to one source package changes that layer and the few-KB available layer.
 */
function groupLayers(tree: FsTree, locked: LockedPackage[], specFiles: FsEntry[], budget: number): PlannedLayer[] {
  const sourceOf = new Map(locked.map((p) => [p.name, p.source]));
  const specPaths = new Set(specFiles.map((f) => f.path));
  const skeleton: FsEntry[] = [];
  const bySource = new Map<string, { packages: Set<string>; entries: FsEntry[]; bytes: number }>();
  const pith: FsEntry[] = [];
  const available: FsEntry[] = [];
  const files: FsEntry[] = [];
  for (const entry of tree.entries()) {
    if (entry.path === AVAILABLE) {
      available.push(entry);
      continue;
    }
    if (entry.type === 'dir' || (entry.type === 'symlink' && tree.owner(entry.path) === undefined && /^\/(bin|sbin|lib[^/]*)$/.test(entry.path))) {
      skeleton.push(entry);
      continue;
    }
    if (specPaths.has(entry.path)) {
      files.push(entry);
      continue;
    }
    const owner = tree.owner(entry.path);
    const source = owner ? sourceOf.get(owner) : undefined;
    if (!source) {
      pith.push(entry);
      continue;
    }
    let group = bySource.get(source);
    if (!group) bySource.set(source, (group = { packages: new Set(), entries: [], bytes: 0 }));
    group.packages.add(owner!);
    group.entries.push(entry);
    group.bytes += entry.type === 'file' ? entry.content.length : 0;
  }
  const fixed = 1 + (pith.length ? 1 : 0) + (available.length ? 1 : 0) + (files.length ? 1 : 0);
  const own = Math.max(1, budget - fixed - 1);
  const ranked = [...bySource].sort((a, b) => b[1].bytes - a[1].bytes || cmp(a[0], b[0]));
  const separate = ranked.length <= own + 1 ? ranked : ranked.slice(0, own);
  const shared = ranked.length <= own + 1 ? [] : ranked.slice(own);
  const layers: PlannedLayer[] = [{ comment: 'pith: directories and merged /usr', packages: [], entries: skeleton }];
  for (const [source, g] of separate.sort((a, b) => cmp(a[0], b[0]))) {
    layers.push({ comment: `source ${source}: ${[...g.packages].sort().join(' ')}`, packages: [...g.packages].sort(), entries: g.entries });
  }
  if (shared.length > 0) {
    const packages = shared.flatMap(([, g]) => [...g.packages]).sort();
    layers.push({ comment: `packages: ${packages.join(' ')}`, packages, entries: shared.flatMap(([, g]) => g.entries) });
  }
  if (pith.length) layers.push({ comment: 'pith: what maintainer scripts would have made (accounts, CA bundle, time zone, alternatives) and os-release', packages: [], entries: pith });
  if (available.length) layers.push({ comment: AVAILABLE_LAYER, packages: [], entries: available });
  if (files.length) layers.push({ comment: SPEC_FILES_LAYER, packages: [], entries: files });
  return layers;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

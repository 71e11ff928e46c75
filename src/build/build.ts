import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContentStore, defaultCacheDir, sha256Hex } from '../cache/store.ts';
import { canonicalJson } from '../json.ts';
import { GZIP_SETTINGS } from '../oci/gzip.ts';
import { loadSpec, type LoadedSpec, type Spec } from '../config/spec.ts';
import { readDeb, type Deb } from '../debian/deb.ts';
import { PithError, isPithError } from '../errors.ts';
import type { FsEntry } from '../fs/entry.ts';
import { FsTree, normalisePath } from '../fs/tree.ts';
import { lock, loadLockFor, lockPathFor, readLock, type LockedPackage, type LockFile } from '../lock/lock.ts';
import { buildImage, buildIndex, layerFromBlob, layerFromEntries, platformForDebianArch, type Image, type ImageIndex, type Layer } from '../oci/image.ts';
import type { Digest } from '../oci/digest.ts';
import { parseDestination, writeImage, formatDestination, type Destination } from '../oci/transport.ts';
import type { RegistryOptions } from '../publish/client.ts';
import { applyAccounts } from './accounts.ts';
import { buildCaBundle } from './certificates.ts';
import { fetchDebs } from './fetch.ts';
import { applyTimezone } from './localtime.ts';
import { trimPaths } from './paths.ts';
import { scriptReport } from './scripts.ts';
import { writeStatusD } from './status.ts';

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
  onProgress?: (event: { name: string; received: number; size: number; done: boolean }) => void;
  /** Registry references pushed to after the outputs are written (`docker://REF` outputs, in addition to them). */
  push?: string[];
  /** For pushes: insecure registries, credentials, parallelism. */
  registry?: RegistryOptions;
}

export interface LayerReport {
  digest: string;
  size: number;
  diffId: string;
  /** What the layer holds: `source:NAME`, `packages`, `pith`, `files`, `filesystem`. */
  comment: string;
  packages: string[];
}

export interface ArchBuild {
  architecture: string;
  digest: string;
  /** The layers came from the build cache (an identical earlier build). */
  cached: boolean;
  layers: LayerReport[];
  trimmed: Array<{ path: string; owner?: string; rule: string }>;
  scripts: Array<{ package: string; script: string; covered: string | null }>;
  excluded: LockFile['architectures'][string]['excluded'];
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
  let lockFile: LockFile;
  let lockCreated = false;
  if (!existsSync(lockPath)) {
    if (options.lockPath) readLock(lockPath); // a lock named explicitly must exist: raises LOCK_NOT_FOUND
    lockFile = (await lock(loaded, { cacheDir: options.cacheDir, offline: options.offline })).lock;
    lockCreated = true;
  } else {
    lockFile = loadLockFor(loaded, lockPath);
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
  const specFiles = readSpecFiles(loaded, sourceDateEpoch);

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
  const report: ArchBuild = {
    architecture: arch,
    digest: image.digest,
    cached: cached !== null,
    layers: image.layers.map((l, i) => ({ digest: l.digest, size: l.size, diffId: l.diffId, comment: assembled.layerInfo[i]!.comment, packages: assembled.layerInfo[i]!.packages })),
    trimmed: assembled.trimmed,
    scripts: assembled.scripts,
    excluded: lockFile.architectures[arch]!.excluded,
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
  const fetched = await fetchDebs(lockFile, locked, { cacheDir: options.cacheDir, offline: options.offline, onProgress: options.onProgress });
  const debs = await Promise.all(fetched.map(async ({ pkg, bytes }) => ({ pkg, deb: await readDeb(bytes, `${pkg.name}_${pkg.version}_${pkg.architecture}.deb`) })));

  const tree = new FsTree({ mergedUsr: true });
  const replacesOf = new Map(debs.map(({ pkg, deb }) => [pkg.name, relationNames(deb.control['replaces'])]));
  for (const { pkg, deb } of debs) unpack(tree, pkg, deb, replacesOf);

  const trimmed = trimPaths(tree, { exclude: spec.paths?.exclude, keep: spec.paths?.keep });
  const accounts = applyAccounts(tree, spec.accounts, { sourceDateEpoch });
  const ca = buildCaBundle(tree, { sourceDateEpoch });
  const tz = applyTimezone(tree, spec.timezone ?? 'UTC', { sourceDateEpoch });
  writeStatusD(
    tree,
    debs.map(({ pkg, deb }) => ({ control: deb.control, controlFiles: deb.controlFiles, name: pkg.name, architecture: pkg.architecture, multiArch: deb.control['multi-arch'] })),
    { sourceDateEpoch },
  );
  await addOsRelease(tree, lockFile, arch, locked, options);
  const covered: Record<string, string> = {};
  if (ca) covered['ca-certificates'] = `CA bundle built by pith (${ca.certificates} certificates)`;
  if (tz) covered['tzdata'] = '/etc/localtime written by pith';
  const scripts = scriptReport(debs.map(({ pkg, deb }) => ({ name: pkg.name, controlFiles: deb.controlFiles })), covered);
  for (const f of specFiles) tree.add(f, undefined, { replaces: true });

  const planned = groupLayers(tree, locked, specFiles, spec.layers?.budget ?? DEFAULT_LAYER_BUDGET);
  const layers = await Promise.all(planned.map((l) => layerFromEntries(l.entries, { sourceDateEpoch, comment: l.comment })));
  return {
    layers,
    layerInfo: planned.map((l) => ({ comment: l.comment, packages: l.packages })),
    user: accounts.user,
    trimmed,
    scripts,
  };
}

const BUILD_FORMAT = 'build-v1';
let sourceDigest: string | undefined;

/**
 * Everything that decides the layers' bytes: the exact packages, the spec fields the tree depends on, the spec's
 * files, the epoch, the gzip settings, and pith's own source (so a changed rule never serves a stale layer).
 * The image config is not in it: it is rebuilt on every run, which costs nothing.
 */
function buildKey(loaded: LoadedSpec, locked: LockedPackage[], arch: string, specFiles: FsEntry[], sourceDateEpoch: number): string {
  const { spec } = loaded;
  sourceDigest ??= digestOfSources(join(dirname(fileURLToPath(import.meta.url)), '..'));
  return sha256Hex(
    canonicalJson({
      format: BUILD_FORMAT,
      pith: sourceDigest,
      gzip: GZIP_SETTINGS,
      arch,
      sourceDateEpoch,
      packages: locked.map((p) => `${p.name} ${p.version} ${p.architecture} ${p.sha256}`),
      spec: { accounts: spec.accounts, paths: spec.paths, layers: spec.layers, timezone: spec.timezone },
      files: specFiles.map((f) => (f.type === 'file' ? { ...f, content: sha256Hex(f.content) } : f)),
    }),
  );
}

function digestOfSources(root: string): string {
  const parts: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) parts.push(`${path.slice(root.length)} ${sha256Hex(readFileSync(path))}`);
    }
  };
  walk(root);
  return sha256Hex(parts.join('\n'));
}

interface BuildRecord {
  format: string;
  layers: Array<{ blob: string; diffId: Digest; comment: string; packages: string[] }>;
  user: string;
  trimmed: ArchBuild['trimmed'];
  scripts: ArchBuild['scripts'];
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
    layers.push(layerFromBlob(new Uint8Array(blob), { diffId: l.diffId, history: l.comment }));
  }
  return {
    layers,
    layerInfo: record.layers.map((l) => ({ comment: l.comment, packages: l.packages })),
    user: record.user,
    trimmed: record.trimmed,
    scripts: record.scripts,
  };
}

async function saveBuild(store: ContentStore, key: string, assembled: Assembled): Promise<void> {
  const layers = await Promise.all(
    assembled.layers.map(async (l, i) => ({
      blob: await store.put(await l.bytes()),
      diffId: l.diffId,
      comment: assembled.layerInfo[i]!.comment,
      packages: assembled.layerInfo[i]!.packages,
    })),
  );
  const record: BuildRecord = { format: BUILD_FORMAT, layers, user: assembled.user, trimmed: assembled.trimmed, scripts: assembled.scripts };
  await store.setRef(BUILD_FORMAT, key, await store.put(Buffer.from(JSON.stringify(record))));
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
  const [{ bytes }] = await fetchDebs(lockFile, [pinned], { cacheDir: options.cacheDir, offline: options.offline });
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
 * one shared layer for the remaining packages; what pith wrote (accounts, CA bundle, …); the spec's own files.
 * Each package's dpkg metadata (status.d, owned by the package) sits in its layer, so a fix to one source package
 * changes one layer.
 */
function groupLayers(tree: FsTree, locked: LockedPackage[], specFiles: FsEntry[], budget: number): PlannedLayer[] {
  const sourceOf = new Map(locked.map((p) => [p.name, p.source]));
  const specPaths = new Set(specFiles.map((f) => f.path));
  const skeleton: FsEntry[] = [];
  const bySource = new Map<string, { packages: Set<string>; entries: FsEntry[]; bytes: number }>();
  const pith: FsEntry[] = [];
  const files: FsEntry[] = [];
  for (const entry of tree.entries()) {
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
  const fixed = 1 + (pith.length ? 1 : 0) + (files.length ? 1 : 0);
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
  if (pith.length) layers.push({ comment: 'pith: accounts, CA bundle, time zone', packages: [], entries: pith });
  if (files.length) layers.push({ comment: 'files from the spec', packages: [], entries: files });
  return layers;
}

/**
 * The spec's `files:` read from the host, relative to the spec. Only regular files, only into the image: a
 * destination that climbs out of `/` is an error, and nothing is ever written on the host.
 */
export function readSpecFiles(loaded: LoadedSpec, sourceDateEpoch: number): FsEntry[] {
  return (loaded.spec.files ?? []).map((f, i) => {
    const where = `${loaded.path}: files[${i}]`;
    const from = resolvePath(loaded.dir, f.from);
    let st;
    try {
      st = statSync(from);
    } catch {
      throw new PithError('SPEC_FILE_MISSING', `${where}: expected a file at ${from} (from: ${f.from}), found nothing`);
    }
    if (!st.isFile()) throw new PithError('SPEC_FILE_MISSING', `${where}: expected a regular file at ${from}, found ${st.isDirectory() ? 'a directory' : 'something else'}`);
    let to: string;
    try {
      to = normalisePath(f.to);
    } catch {
      throw new PithError('PATH_ESCAPES', `${where}: expected a destination inside the image, found "${f.to}"`);
    }
    if (to === '/') throw new PithError('PATH_ESCAPES', `${where}: expected a file path, found "/"`);
    const mode = f.mode === undefined ? (st.mode & 0o111 ? 0o755 : 0o644) : typeof f.mode === 'number' ? f.mode : parseInt(f.mode, 8);
    const [uid, gid] = ownerIds(f.owner, loaded.spec, where);
    return { type: 'file', path: to, mode, uid, gid, mtime: sourceDateEpoch, content: new Uint8Array(readFileSync(from)) } satisfies FsEntry;
  });
}

function ownerIds(owner: string | number | undefined, spec: Spec, where: string): [number, number] {
  if (owner === undefined) return [0, 0];
  if (typeof owner === 'number') return [owner, owner];
  const m = /^(\d+)(?::(\d+))?$/.exec(owner);
  if (m) return [Number(m[1]), Number(m[2] ?? m[1])];
  const users = [{ name: 'root', uid: 0, gid: 0 }, { name: 'nonroot', uid: 65532, gid: 65532 }, ...(spec.accounts?.users ?? [])];
  const user = users.find((u) => u.name === owner);
  if (!user) throw new PithError('SPEC_INVALID', `${where}: owner: expected a uid[:gid] or a known user (${users.map((u) => u.name).join(', ')}), found "${owner}"`);
  return [user.uid, user.gid ?? user.uid];
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

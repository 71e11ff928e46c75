import { existsSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { assemble, type Assembled } from '../assemble/assemble.ts';
import { DEFAULT_LAYER_BUDGET } from '../assemble/layers.ts';
import { buildKey, buildRecord, layerBlobCache, loadBuild, saveBuild, saveRecord, type BuildRecord } from '../assemble/cache.ts';
import { RegistryCache } from '../assemble/registry-cache.ts';
import type { TrimmedPath } from '../assemble/paths.ts';
import { ContentStore, defaultCacheDir } from '../cache/store.ts';
import { readSpecFiles } from '../config/files.ts';
import { loadSpec, type LoadedSpec } from '../config/spec.ts';
import type { ArchiveEvent } from '../debian/archive.ts';
import { isPithError, PithError } from '../errors.ts';
import type { FsEntry } from '../fs/entry.ts';
import type { LibrariesMode, LibraryClosure, LibraryProvision } from '../libraries/closure.ts';
import { loadLockFor, lockPathFor, lockToRead, readLock, writeLock, type LockFile, type PackageChange } from '../lock/lock.ts';
import { lock, relock, type Relock } from './lock.ts';
import { specSnapshot } from './archive.ts';
import type { ScriptReportEntry } from '../maintscript/report.ts';
import { buildImage, buildIndex, platformForDebianArch, type Image, type ImageIndex } from '../oci/image.ts';
import type { RegistryOptions } from '../registry/client.ts';
import { formatDestination, parseDestination, registryLocation, writeImage, type Destination } from '../transports/transports.ts';
import { compareStrings } from '../order.ts';
import type { SbomFormat } from '../sbom/formats.ts';
import { formatReference, parseReference } from '../oci/reference.ts';
import type { Signer, SignReport } from '../trust/trust.ts';
import { attachSboms, type AttachedSbom } from '../sbom/sbom.ts';

/**
 * Signing's libraries (Sigstore, OpenPGP) are loaded only by a build that signs: for the others they were ~30 MB of
 * resident memory that a large image's build needs for its tree.
 */
const trust = () => import('../trust/trust.ts');

export { readSpecFiles };

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface BuildOptions {
  /** Destinations (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME:TAG]`); default `oci:<spec dir>/out:<name>`. */
  outputs?: string[];
  /** Architectures to build (default: every architecture in the lock). */
  architectures?: string[];
  /** Lock file (default `<spec name>.lock` beside the spec; created when missing, re-locked when the spec changed). */
  lockPath?: string;
  /** Fail (LOCK_STALE, LOCK_NOT_FOUND) instead of creating or re-locking the lock: for CI, as cargo's `--locked`. */
  locked?: boolean;
  cacheDir?: string;
  offline?: boolean;
  /**
   * Bytes of file contents a build keeps in memory (default 16 MiB); larger files and the rest wait in a spill file
   * in the cache directory until their layer is written, so memory does not grow with the image.
   */
  contentMemory?: number;
  /** Overrides the epoch taken from the lock (the newest Release date); `SOURCE_DATE_EPOCH` in the CLI. */
  sourceDateEpoch?: number;
  /** `--snapshot`: base URL of a snapshot service for versions the archive dropped (default: the spec's). */
  snapshot?: string;
  /** Registry repositories (`docker://REG/REPO`) whose build cache is used: whole builds and compressed layers. */
  cacheFrom?: string[];
  /** Registry repositories every build and compressed layer is published to, for other machines. */
  cacheTo?: string[];
  /** Downloads (indexes when the lock is made, then .debs) and warnings, as `lock` reports them. */
  onEvent?: (event: ArchiveEvent) => void;
  /** Registry references pushed to after the outputs are written (`docker://REF` outputs, in addition to them). */
  push?: string[];
  /** For pushes: insecure registries, credentials, parallelism. */
  registry?: RegistryOptions;
  /**
   * SBOMs stored with the image in each `oci:` output and each registry it is pushed to, as artifacts referring to
   * each platform image; archives cannot hold them (`BuildResult.sboms.skipped` names those).
   */
  sbom?: readonly SbomFormat[];
  /** Signs every registry destination once pushed (`--sign KEYFILE`, `--sign-keyless`): see trust/trust.ts. */
  sign?: Signer;
  /**
   * With `sign`: also attest the build (default true) — the SLSA provenance of this spec and lock and the image's
   * SBOMs, signed with the same key and attached in each registry (trust/attest.ts). `false` signs the image alone.
   */
  attest?: boolean;
  /** The provenance's builder id (default urn:pith:builder:local): a CI names itself, e.g. its workflow's URI. */
  builderId?: string;
  /** With an OpenPGP `sign` key: the lookaside its simple signatures are written to. */
  lookaside?: string;
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
  /** For a cached layer: the local cache, or a registry cache (`cacheFrom`). */
  cachedIn?: 'local' | 'registry';
}

export interface ArchBuild {
  architecture: string;
  digest: string;
  /** The layers came from the build cache (an identical earlier build). */
  cached: boolean;
  layers: LayerReport[];
  /** Sums over the layers. */
  size: { compressed: number; uncompressed: number };
  trimmed: TrimmedPath[];
  scripts: ScriptReportEntry[];
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
  /** The spec changed since its lock: what changed, and the packages the minimal re-lock moved (written to `lockPath`). */
  relocked?: { specChanges: string[]; changes: PackageChange[] };
  architectures: ArchBuild[];
  image: Image | ImageIndex;
  /** With `sbom` formats: what was attached where, and the outputs that cannot hold artifacts. */
  sboms?: AttachedSboms;
  /** With `sign`: each registry destination's signatures. */
  signatures?: SignReport[];
}

export interface AttachedSboms {
  attached: AttachedSbom[];
  skipped: string[];
}

/**
 * `pith build`: spec + lock → verified .debs → one in-memory filesystem per architecture (no maintainer script
 * ever runs; pith writes what they would have) → deterministic layers grouped by Debian source package → image
 * (an index when multi-arch) → every output, each written atomically.
 */
export async function build(specFile: string | LoadedSpec, options: BuildOptions = {}): Promise<BuildResult> {
  const startedOn = new Date();
  const loaded = typeof specFile === 'string' ? loadSpec(specFile) : specFile;
  const { spec } = loaded;
  const lockPath = options.lockPath ? resolvePath(options.lockPath) : lockToRead(loaded);
  // Read once: the lock's library closure and the image both need them (and a missing file fails before any download).
  const files = readSpecFiles(loaded, 0);
  const access = { cacheDir: options.cacheDir, offline: options.offline, onEvent: options.onEvent, specFiles: files, snapshot: options.snapshot, write: false };
  let lockFile: LockFile;
  let lockCreated = false;
  let relocked: Relock | undefined;
  if (!existsSync(lockPath)) {
    if (options.lockPath) readLock(lockPath); // a lock named explicitly must exist: raises LOCK_NOT_FOUND
    if (options.locked) throw new PithError('LOCK_NOT_FOUND', `${lockPath}: --locked: expected the spec's lock, found none; run "pith lock ${loaded.path}" and commit the lock`);
    lockFile = (await lock(loaded, access)).lock;
    lockCreated = true;
  } else {
    try {
      lockFile = loadLockFor(loaded, lockPath, undefined, files);
    } catch (e) {
      // A spec edited since its lock is re-locked minimally (every other pin kept), as cargo and npm do; a lock named
      // with --lock, and any lock under --locked, is left as it is.
      if (!isPithError(e, 'LOCK_STALE') || options.lockPath) throw e;
      const changes = (e.details?.changes as string[] | undefined) ?? [];
      if (options.locked) {
        throw new PithError('LOCK_STALE', `${lockPath}: --locked: the lock was made from a different spec; ${loaded.path} changed since:\n${changes.map((c) => `  - ${c}`).join('\n')}\nRun "pith build" without --locked (or "pith lock") to re-lock, and commit the lock.`, { details: { changes } });
      }
      relocked = await relock(loaded, readLock(lockPath), changes, access);
      lockFile = relocked.lock;
    }
  }
  // A new or changed lock goes beside the spec under its own name, and only once the outputs are written.
  const lockOut = options.lockPath ? lockPath : lockPathFor(loaded.path);
  const destinations: Destination[] = (options.outputs?.length ? options.outputs : [`oci:${join(loaded.dir, 'out')}:${spec.name}`]).map(parseDestination);
  for (const ref of options.push ?? []) destinations.push(parseDestination(registryLocation(ref)));
  // The key is opened before anything is built, so a wrong path or passphrase costs nothing.
  const signingKey = options.sign === undefined ? undefined : await signingKeyFor(options.sign, destinations, options);
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
  if (lockCreated || relocked) await writeLock(lockOut, lockFile);
  const outputs = destinations.map(formatDestination);
  const sboms = options.sbom?.length ? await attachSboms(outputs, image, options.sbom, { registry: options.registry }) : undefined;
  // With its tag: a simple signature names what a pull by that tag checks (cosign's forms go by the digest).
  const pushed = destinations.flatMap((d) => (d.transport === 'docker' ? [formatReference({ ...parseReference(d.reference), digest: image.digest })] : []));
  const signatures = signingKey ? await signPushed(pushed, signingKey, { spec: loaded.path, lock: lockCreated || relocked ? lockOut : lockPath, image, startedOn }, options) : [];
  return {
    digest: image.digest,
    outputs,
    sourceDateEpoch,
    lockPath: lockCreated || relocked ? lockOut : lockPath,
    lockCreated,
    ...(relocked ? { relocked: { specChanges: relocked.specChanges, changes: relocked.changes } } : {}),
    architectures: reports,
    image,
    ...(sboms ? { sboms } : {}),
    ...(signingKey ? { signatures } : {}),
  };
}

/** `--sign` signs what is pushed: a signer, and at least one registry destination to sign in. */
async function signingKeyFor(signer: Signer, destinations: readonly Destination[], options: SigningOptions): Promise<Exclude<Signer, string>> {
  if (!destinations.some((d) => d.transport === 'docker')) {
    throw new PithError('USAGE', '--sign signs the image where it is pushed: add --push REF (or a docker:// output)');
  }
  return openBuildSigner(signer, options);
}

/** What `--sign` means to the commands that build and push (build, update). */
export type SigningOptions = Pick<BuildOptions, 'attest' | 'builderId' | 'lookaside' | 'registry'>;

/** Opens a signer for what a build asks of it, before any work: an OpenPGP key cannot attest, and needs a lookaside. */
export async function openBuildSigner(signer: Signer, options: SigningOptions): Promise<Exclude<Signer, string>> {
  const { openSigner } = await trust();
  return openSigner(signer, { attest: options.attest !== false, lookaside: options.lookaside });
}

/** Signs each pushed reference and, unless `attest` is false, attests the build behind it (finished now). */
export async function signPushed(references: readonly string[], signer: Exclude<Signer, string>, built: { spec: string; lock: string; image: Image | ImageIndex; startedOn: Date }, options: SigningOptions): Promise<SignReport[]> {
  const attest = options.attest === false ? undefined : { ...built, finishedOn: new Date(), builderId: options.builderId };
  const { sign } = await trust();
  const reports: SignReport[] = [];
  for (const reference of references) reports.push(await sign(reference, signer, { ...options.registry, ...(attest ? { attest } : {}), lookaside: options.lookaside }));
  return reports;
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
  const locked = [...lockFile.architectures[arch]!.packages].sort((a, b) => compareStrings(a.name, b.name));
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const baseFiles = lockFile.architectures[arch]!.baseFiles;
  const key = buildKey(spec, baseFiles ? [...locked, baseFiles] : locked, arch, specFiles, sourceDateEpoch);
  const remote = new RegistryCache({ from: options.cacheFrom, to: options.cacheTo, registry: options.registry, onWarning: (message) => options.onEvent?.({ kind: 'warning', message }) });
  let cached = await loadBuild(store, key);
  let cachedIn: 'local' | 'registry' = 'local';
  if (!cached && remote.enabled) {
    const record = await remote.loadBuild<BuildRecord>(key, store);
    if (record) {
      await saveRecord(store, key, record);
      cached = await loadBuild(store, key);
      cachedIn = 'registry';
    }
  }
  const blobCache = remote.layerBlobs(layerBlobCache(store));
  const assembled = cached ?? (await assemble({ spec, lockFile, locked, arch, specFiles, sourceDateEpoch }, { cacheDir: options.cacheDir, offline: options.offline, onEvent: options.onEvent, blobCache, contentMemory: options.contentMemory, snapshot: specSnapshot(loaded, options.snapshot) }));
  if (!cached) await saveBuild(store, key, assembled);
  for (const message of largeLayerWarnings(assembled, spec.layers?.budget ?? DEFAULT_LAYER_BUDGET)) options.onEvent?.({ kind: 'warning', message });
  // A build the local cache served is published too: the registry cache may lack it (a cache-to added later).
  if (options.cacheTo?.length && cachedIn === 'local') await remote.saveBuild(key, buildRecord(assembled), store);
  const fromRegistry = cachedIn === 'registry' ? new Set(assembled.layers.map((l) => l.diffId)) : blobCache.fromRegistry;
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
    ...(assembled.blobsFromCache.has(l.diffId) ? { cachedIn: fromRegistry.has(l.diffId) ? ('registry' as const) : ('local' as const) } : {}),
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

/** Past this, one layer is worth splitting: pulls fetch, resume and unpack layer by layer. */
const LARGE_LAYER = 2 ** 30;

/** The layer holding every package past the largest sources, when it is large: the budget can split it. */
export function largeLayerWarnings(assembled: Assembled, budget: number): string[] {
  return assembled.layers.flatMap((l, i) => {
    const info = assembled.layerInfo[i]!;
    if ((l.uncompressedSize ?? 0) <= LARGE_LAYER || !info.comment.startsWith('packages: ')) return [];
    return [
      `one layer holds ${info.packages.length} packages (${((l.uncompressedSize ?? 0) / 1e9).toFixed(1)} GB unpacked): layers.budget ${budget} leaves room for few ` +
        `layers of their own; raise layers.budget in the spec (e.g. to ${budget * 3}) to split it into pieces that registries and runtimes fetch and unpack in parallel`,
    ];
  });
}


/**
 * The assemble stage: locked .debs → one architecture's file tree → the layers of its image. No maintainer script
 * ever runs; what they would have made is written by pith (alternatives, accounts, CA bundle, time zone, dpkg's
 * database), each piece in its own module beside this one.
 */
import { availableParallelism } from 'node:os';
import type { Spec } from '../config/spec.ts';
import { readDeb, type Deb } from '../debian/deb.ts';
import { parseRelations } from '../debian/relations.ts';
import { PithError, isPithError } from '../errors.ts';
import { fetchAndReadDebs, fetchDebs, type FetchDebsOptions } from '../fetch/debs.ts';
import type { FsEntry } from '../fs/entry.ts';
import { FsTree } from '../fs/tree.ts';
import { verifyLibraries, type LibraryClosure } from '../libraries/closure.ts';
import type { LockedPackage, LockFile } from '../lock/lock.ts';
import { forEachBounded } from '../net/bounded.ts';
import { applyAlternatives } from '../maintscript/alternatives.ts';
import { scriptReport, type ScriptReportEntry } from '../maintscript/report.ts';
import { layerFromEntries, type Layer, type LayerBlobCache } from '../oci/image.ts';
import type { Digest } from '../oci/digest.ts';
import { defaultCacheDir } from '../cache/store.ts';
import { applyAccounts } from './accounts.ts';
import { buildCaBundle } from './certificates.ts';
import { DEFAULT_LAYER_BUDGET, planLayers, type PlannedLayer } from './layers.ts';
import { applyTimezone } from './localtime.ts';
import { trimPaths, type TrimmedPath } from './paths.ts';
import { Spill } from './spill.ts';
import { writeAvailable, writeFileLists, writeStatusD } from './status.ts';

/** What assembling one architecture produces: everything the image needs except its config. */
export interface Assembled {
  layers: Layer[];
  layerInfo: Array<{ comment: string; packages: string[] }>;
  user: string;
  trimmed: TrimmedPath[];
  scripts: ScriptReportEntry[];
  libraries: LibraryClosure[];
  /** diffIds of the layers whose compressed blob came from the cache. */
  blobsFromCache: ReadonlySet<Digest>;
}

export interface AssembleInput {
  spec: Spec;
  lockFile: LockFile;
  /** The architecture's locked packages, sorted by name. */
  locked: LockedPackage[];
  arch: string;
  /** The spec's `files:`, with the epoch as their mtime. */
  specFiles: FsEntry[];
  sourceDateEpoch: number;
}

/**
 * One architecture's file tree and layers: verified .debs unpacked (`Replaces` decides clashes), trimmed, what the
 * maintainer scripts would have made written by pith (alternatives, accounts, CA bundle, time zone, dpkg's
 * database, os-release), the spec's files on top, the library closure verified, and the tree cut into layers.
 */
export interface AssembleOptions extends FetchDebsOptions {
  /** Compressed layer blobs already made, by diffId; `hits` collects the ones it served. */
  blobCache?: LayerBlobCache & { hits: ReadonlySet<Digest> };
  /** Bytes of file contents kept in memory while assembling (default 16 MiB); the rest waits on disk (`Spill`). */
  contentMemory?: number;
}

export async function assemble(input: AssembleInput, options: AssembleOptions = {}): Promise<Assembled> {
  const spill = await Spill.open(options.cacheDir ?? defaultCacheDir(), { memoryBudget: options.contentMemory });
  try {
    return await assembleWith(spill, input, options);
  } finally {
    spill.close();
  }
}

async function assembleWith(spill: Spill, input: AssembleInput, options: AssembleOptions): Promise<Assembled> {
  // The tree is built and cut into layers in a function of its own: once it returns, nothing holds the tree's
  // indexes, only the entries the layers name (a large image's tree is most of a build's memory).
  const { planned, ...planning } = await planImage(spill, input, options);
  const { blobCache } = options;
  // Each layer streams through its own compressor on the thread pool; a few at a time keep every core busy while
  // what is in flight (a few MiB per layer) stays small, however many layers there are.
  const layers: Layer[] = new Array(planned.length);
  await forEachBounded(planned, availableParallelism() + 1, async (l, i) => {
    layers[i] = await layerFromEntries(l.entries, { sourceDateEpoch: input.sourceDateEpoch, comment: l.comment, blobCache });
    planned[i] = { ...l, entries: [] };
  });
  return {
    layers,
    layerInfo: planned.map((l) => ({ comment: l.comment, packages: l.packages })),
    ...planning,
    blobsFromCache: blobCache?.hits ?? new Set(),
  };
}

/** The image's file tree, cut into layers (`planLayers`), and what was learnt making it. */
async function planImage(
  spill: Spill,
  input: AssembleInput,
  options: AssembleOptions,
): Promise<Pick<Assembled, 'user' | 'trimmed' | 'scripts' | 'libraries'> & { planned: PlannedLayer[] }> {
  const { spec, lockFile, locked, arch, specFiles, sourceDateEpoch } = input;
  const tree = new FsTree({ mergedUsr: true });
  const replacesOf = new Map<string, Set<string>>();
  const debs = await fetchAndReadDebs(lockFile, locked, {
    ...options,
    keeper: spill,
    // Unpacked in lock order as they are read: the tree then holds the only copy of each package's entries, and
    // a package's Replaces are known before any later package can clash with it.
    onRead: ({ pkg, deb }) => {
      replacesOf.set(pkg.name, replacedPackages(deb.control['replaces'], `${pkg.name} ${pkg.version}: Replaces`));
      spill.flush(); // two packages shipping one path are compared by content, which may be in the spill
      unpack(tree, pkg, deb, replacesOf);
      deb.entries.length = 0;
    },
  });
  spill.flush();

  const trimmed = trimPaths(tree, { exclude: spec.paths?.exclude, keep: spec.paths?.keep });
  // After trimming, as dpkg's path-exclude would: update-alternatives links no slave to a trimmed man page.
  const alternatives = applyAlternatives(tree, debs.map(({ pkg, deb }) => ({ name: pkg.name, architecture: pkg.architecture, control: deb.control, controlFiles: deb.controlFiles })), { architecture: arch, sourceDateEpoch });
  const accounts = applyAccounts(tree, spec.accounts, { sourceDateEpoch });
  const ca = buildCaBundle(tree, { sourceDateEpoch });
  const tz = applyTimezone(tree, spec.timezone ?? 'UTC', { sourceDateEpoch });
  writeStatusD(
    tree,
    debs.map(({ pkg, deb }) => ({ control: deb.control, controlFiles: deb.controlFiles, name: pkg.name, architecture: pkg.architecture, multiArch: deb.control['multi-arch'] })),
    { sourceDateEpoch, keeper: spill },
  );
  writeAvailable(tree, locked, { sourceDateEpoch, keeper: spill });
  spill.flush();
  await addOsRelease(tree, lockFile, arch, locked, options);
  const covered: Record<string, string> = { ...alternatives.covered };
  if (ca) covered['ca-certificates'] = `CA bundle built by pith (${ca.certificates} certificates)`;
  if (tz) covered['tzdata'] = '/etc/localtime written by pith';
  const scripts = scriptReport(debs.map(({ pkg, deb }) => ({ name: pkg.name, controlFiles: deb.controlFiles })), covered, alternatives.notes);
  for (const f of specFiles) tree.add(f, undefined, { replaces: true });
  const libraries = spec.libraries === 'off' ? [] : verifyLibraries(tree, specFiles, arch);
  writeFileLists(tree, debs.map(({ pkg, deb }) => ({ name: pkg.name, md5sums: deb.controlFiles.get('md5sums') })), { sourceDateEpoch, keeper: spill });
  spill.flush();

  return {
    planned: planLayers(tree, locked, specFiles, spec.layers?.budget ?? DEFAULT_LAYER_BUDGET),
    user: accounts.user,
    trimmed,
    scripts,
    libraries,
  };
}

/** What base-files contributes when it is not installed: the files that say which OS and release this is. */
const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release', '/etc/debian_version'];

/**
 * Scanners identify the distribution from /etc/os-release and /etc/debian_version. When the image does not install
 * base-files (minimal images rarely need its other contents), pith copies just those from the archive's base-files
 * the lock pinned, as distroless does.
 */
async function addOsRelease(tree: FsTree, lockFile: LockFile, arch: string, locked: LockedPackage[], options: FetchDebsOptions): Promise<void> {
  const pinned = lockFile.architectures[arch]!.baseFiles;
  if (!pinned || locked.some((p) => p.name === 'base-files')) return;
  const [{ bytes }] = await fetchDebs(lockFile, [pinned], options);
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

/** The package names a `Replaces` field names (versions and architecture qualifiers do not narrow it here). */
function replacedPackages(field: string | undefined, where: string): Set<string> {
  return new Set(field ? parseRelations(field, where).flat().map((r) => r.name) : []);
}

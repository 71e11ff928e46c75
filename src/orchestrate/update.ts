/**
 * `pith update`: the minimal bump. Only the locked packages that have a newer candidate (a security one, with
 * `only: 'security'`) move, plus whatever their new versions' dependencies require; everything else stays pinned.
 * Then a reproducible rebuild into a scratch layout, the spec's smoke test in the new image with runc, a summary
 * (packages changed, CVEs fixed, layers changed, bytes a node must pull), the outputs, the pushes — and only when
 * every step has passed, the new lock, written atomically. A failure leaves the old lock and outputs as they were.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadSpec, type LoadedSpec } from '../config/spec.ts';
import type { Archive } from '../debian/archive.ts';
import { isPithError, PithError } from '../errors.ts';
import { build, openBuildSigner, signPushed, type AttachedSboms, type SigningOptions } from './build.ts';
import { lockChanges, loadLockFor, lockPathFor, lockToRead, type PackageChange, resolveLock, writeLock, type LockFile } from '../lock/lock.ts';
import { minimalPins } from './lock.ts';
import { carrySnapshots, pinSnapshots, specSnapshot, type ArchiveAccess } from './archive.ts';
import { copyImage, readImage, registryLocation } from '../transports/transports.ts';
import { platformImages } from '../oci/read.ts';
import { platformForDebianArch, type Image, type ImageIndex } from '../oci/image.ts';
import { compareStrings } from '../order.ts';
import { imageInventory } from '../sbom/inventory.ts';
import type { RegistryOptions } from '../registry/client.ts';
import { diffImages, type ImageDiff } from '../inspect/diff.ts';
import { smokeTest, type SmokeTestResult } from './smoke.ts';
import { loadAdvisories } from '../advisories/load.ts';
import { AdvisoryIndex } from '../advisories/match.ts';
import { checkImage, lockRelease, type ImageCheck } from './check.ts';
import { fleetArchives } from './fleet.ts';
import { shardSpecs } from './plan.ts';
import type { Shard } from './shard.ts';
import { checkJobs, forEachBounded } from '../net/bounded.ts';
import type { SbomFormat } from '../sbom/formats.ts';
import { attachSboms } from '../sbom/sbom.ts';
import { parseImagePin, rollout, type RolloutResult } from './rollout.ts';
import type { Signer, SignReport } from '../trust/trust.ts';

export interface UpdateOptions extends ArchiveAccess, SigningOptions {
  /** Move only packages whose newer candidate comes from a security suite. */
  only?: 'security';
  /** Registry references the new image is pushed to (after the smoke test); `{name}` stands for the spec's name. */
  push?: string[];
  /** Specs updated at once (default 2). */
  jobs?: number;
  registry?: RegistryOptions;
  /** Advisory sources, for the CVEs the update fixes (as `check` reads them). */
  advisories?: string[];
  /** Outputs (default the build's: `oci:<spec dir>/out:<name>`). */
  outputs?: string[];
  /** After pushing: pin each pushed `repo:tag@sha256:…` in the manifests under these paths (`pith rollout --write`). */
  rollout?: string[];
  /** SBOMs stored with the new image in each `oci:` output and each push, as `build`'s `sbom` stores them. */
  sbom?: readonly SbomFormat[];
  /** Only this shard of the fleet's specs (`--shard I/N`): N workers split a fleet with no coordinator. */
  shard?: Shard;
  /** The registry build cache, as `build` uses it (`--cache-from`, `--cache-to`). */
  cacheFrom?: string[];
  cacheTo?: string[];
  /** Signs each push (`--sign KEYFILE`) and, unless `attest` is false, attests its build, as `build`'s `sign` does. */
  sign?: Signer;
}

export interface ImageUpdate {
  spec: string;
  name: string;
  /** False when nothing needed a new version (nothing was built or written). */
  updated: boolean;
  changes: PackageChange[];
  /** CVE ids the changed packages' changelogs name, and the advisories the new versions are no longer affected by. */
  cvesFixed: string[];
  oldDigest?: string;
  newDigest?: string;
  diff?: ImageDiff;
  /**
   * What the old image was taken as: `rebuilt` from the old lock with the cached .debs (exact), an `output` or
   * `pushed` image whose packages equal the old lock, or `lock` — described from the lock alone, when neither is at
   * hand (a fresh machine whose old versions left the archive): then `changes` is the summary and there is no diff.
   */
  oldImage?: { from: 'rebuilt' | 'output' | 'pushed' | 'lock'; location?: string };
  /** Layers of the new image a node running the old one lacks, and the bytes it pulls for them. */
  layersChanged?: number;
  pullBytes?: number;
  smokeTest?: { passed: boolean; reason?: string; skipped?: string };
  outputs: string[];
  /** `repo:tag@sha256:…` of each push. */
  pushed: string[];
  /** What the pushes sent, summed: blobs uploaded, mounted from another repository, already there; bytes sent. */
  pushedBlobs?: { uploaded: number; mounted: number; skipped: number; bytesSent: number };
  lock: string;
  rollout?: RolloutResult;
  /** With `sbom` formats: the SBOMs attached to the new image, and the outputs that cannot hold them. */
  sboms?: AttachedSboms;
  /** With `sign`: each push's signatures (and attestations). */
  signatures?: SignReport[];
}

/**
 * Updates every spec named or found under `paths`, `jobs` at a time; the first failure stops new ones from
 * starting (each spec's own lock and outputs stay as they were unless its update completed).
 */
export async function update(paths: string[], options: UpdateOptions = {}): Promise<ImageUpdate[]> {
  const jobs = checkJobs(options.jobs ?? 2, 'update jobs (specs updated at once)');
  const specs = shardSpecs(paths, options.shard);
  if (options.rollout?.length && !options.push?.length) throw rolloutNeedsPush();
  // Opened once for the fleet, before any work: a wrong path or passphrase costs nothing.
  const sign = await signingKeyFor(options);
  const results: ImageUpdate[] = new Array(specs.length);
  // The manifests are walked once for the whole fleet, after every image is pushed, rather than once per image.
  const archiveFor = fleetArchives(options);
  await forEachBounded(specs, jobs, async (spec, i) => {
    results[i] = await updateImage(spec, { ...options, sign, rollout: undefined }, archiveFor);
  });
  if (options.rollout?.length) {
    const pushed = results.flatMap((r) => r.pushed);
    const done = pushed.length ? await rollout(pushed.map(parseImagePin), options.rollout, { write: true }) : undefined;
    for (const r of results) {
      if (!done || r.pushed.length === 0) continue;
      const mine = done.edits.filter((e) => r.pushed.includes(e.image));
      r.rollout = { ...done, edits: mine, diffs: done.diffs.filter((d) => mine.some((e) => e.file === d.file)), written: done.written.filter((f) => mine.some((e) => e.file === f)) };
    }
  }
  return results;
}

const rolloutNeedsPush = () => new PithError('USAGE', 'update --rollout pins the pushed digest: it needs --push REF');

async function signingKeyFor(options: UpdateOptions): Promise<Exclude<Signer, string> | undefined> {
  if (options.sign === undefined) return undefined;
  if (!options.push?.length) throw new PithError('USAGE', 'update --sign signs the image where it is pushed: it needs --push REF');
  return openBuildSigner(options.sign, options);
}

/** The CVEs an update fixes: those its changed packages' changelogs name, and the advisories the new versions escape. */
function cvesFixed(before: ImageCheck, next: LockFile, changes: PackageChange[], index: AdvisoryIndex): string[] {
  const fixed = new Set<string>();
  const moved = new Set(changes.map((c) => `${c.architecture} ${c.name} ${c.to}`));
  for (const u of before.updates) if (moved.has(`${u.architecture} ${u.name} ${u.candidate}`)) for (const c of u.cves) fixed.add(c);
  for (const f of before.findings) {
    const now = next.architectures[f.architecture]?.packages.find((p) => p.name === f.package);
    if (!now || !index.affecting(now.source, now.sourceVersion).some((a) => a.id === f.id)) fixed.add(f.id);
  }
  return [...fixed].sort();
}

/** `archiveFor` opens the spec's archive (default: afresh; `update` shares one per fleet run). */
export async function updateImage(specFile: string | LoadedSpec, options: UpdateOptions = {}, archiveFor = fleetArchives(options)): Promise<ImageUpdate> {
  const loaded = typeof specFile === 'string' ? loadSpec(specFile) : specFile;
  if (options.rollout?.length && !options.push?.length) throw rolloutNeedsPush();
  const startedOn = new Date();
  const signingKey = await signingKeyFor(options);
  const lockPath = lockPathFor(loaded.path);
  const oldLockPath = lockToRead(loaded); // a pith.lock from before locks were named after their spec, read once
  const oldLock = loadLockFor(loaded, oldLockPath, options.sources);
  const archive = await archiveFor(loaded, oldLock);
  const base: ImageUpdate = { spec: loaded.path, name: loaded.spec.name, updated: false, changes: [], cvesFixed: [], outputs: [], pushed: [], lock: lockPath };
  const { pins, moving } = minimalPins(oldLock, archive, options.only);
  if ([...moving.values()].every((m) => m.size === 0)) return base;

  const release = lockRelease(oldLock);
  const advisories = await loadAdvisories(options.advisories ?? [], { ...release, cacheDir: options.cacheDir, offline: options.offline });
  const index = new AdvisoryIndex(advisories.advisories);
  const before = await checkImage(loaded, oldLock, archive, index, options);
  const { lock: newLock } = await resolveLock(loaded, archive, { sources: options.sources, pins });
  const changes = lockChanges(oldLock, newLock);
  if (changes.length === 0) return base;
  const snapshot = specSnapshot(loaded, options.snapshot);
  carrySnapshots(oldLock, newLock);
  if (snapshot !== undefined && !options.offline) await pinSnapshots(newLock, snapshot);

  const scratch = await mkdtemp(join(tmpdir(), 'pith-update-'));
  try {
    // Named as the spec's lock will be: the provenance records the lock's name with its digest.
    const newLockPath = join(scratch, 'new', basename(lockPath));
    await writeLock(newLockPath, newLock);
    const common = { cacheDir: options.cacheDir, offline: options.offline, onEvent: options.onEvent, snapshot: options.snapshot, cacheFrom: options.cacheFrom, cacheTo: options.cacheTo, registry: options.registry };
    const old = await oldImage(loaded, oldLockPath, oldLock, archive, join(scratch, 'old-layout'), options);
    const newLayout = join(scratch, 'new-layout');
    const newBuild = await build(loaded, { ...common, lockPath: newLockPath, outputs: [`oci:${newLayout}:${loaded.spec.name}`] });
    const diff = old.image ? await diffImages(old.image, newBuild.image, { a: `old (${old.location ?? lockPath})`, b: 'new' }) : undefined;
    const result: ImageUpdate = {
      ...base,
      changes,
      cvesFixed: cvesFixed(before, newLock, changes, index),
      ...(old.image ? { oldDigest: old.image.digest } : {}),
      newDigest: newBuild.digest,
      oldImage: { from: old.from, ...(old.location ? { location: old.location } : {}) },
      ...(diff
        ? { diff, layersChanged: diff.platforms.reduce((n, p) => n + p.layers.new.length, 0), pullBytes: diff.platforms.reduce((n, p) => n + p.pull.bytes, 0) }
        : {}),
    };

    let smoke: SmokeTestResult | undefined;
    if (loaded.spec.test) {
      smoke = await smokeTest(`oci:${newLayout}:${loaded.spec.name}`, loaded.spec.test, { cacheDir: options.cacheDir });
      result.smokeTest = { passed: smoke.passed, reason: smoke.reason };
      if (!smoke.passed) {
        throw new PithError('SMOKE_TEST_FAILED', `${loaded.path}: the updated image failed its smoke test: ${smoke.reason}; the lock (${lockPath}) and outputs are unchanged`, { details: { update: result } });
      }
    } else result.smokeTest = { passed: true, skipped: 'the spec has no test:' };

    const outputs = options.outputs?.length ? options.outputs : [`oci:${join(loaded.dir, 'out')}:${loaded.spec.name}`];
    const source = `oci:${newLayout}:${loaded.spec.name}`;
    for (const out of outputs) await copyImage(source, out, { registry: options.registry });
    result.outputs = outputs;
    const pushedTo: string[] = [];
    for (const ref of options.push ?? []) {
      const dest = registryLocation(ref.replaceAll('{name}', loaded.spec.name));
      const { push } = await copyImage(source, dest, { registry: options.registry });
      if (push) {
        const sum = (result.pushedBlobs ??= { uploaded: 0, mounted: 0, skipped: 0, bytesSent: 0 });
        sum.uploaded += push.blobs.uploaded;
        sum.mounted += push.blobs.mounted;
        sum.skipped += push.blobs.skipped;
        sum.bytesSent += push.bytesSent;
      }
      pushedTo.push(dest);
      result.pushed.push(`${dest.slice('docker://'.length).replace(/@sha256:[0-9a-f]{64}$/, '')}@${newBuild.digest}`);
    }
    // Attached where the image now lives (a copy carries no artifacts), before the lock names the new image.
    if (options.sbom?.length) result.sboms = await attachSboms([...outputs, ...pushedTo], newBuild.image, options.sbom, { registry: options.registry });
    if (signingKey) result.signatures = await signPushed(result.pushed, signingKey, { spec: loaded.path, lock: newLockPath, image: newBuild.image, startedOn }, options);
    await writeLock(lockPath, newLock);
    if (options.rollout?.length) {
      // Last: the lock and the registry now hold the new image, so manifests may point at it.
      result.rollout = await rollout(result.pushed.map(parseImagePin), options.rollout, { write: true });
    }
    result.updated = true;
    return result;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The image the update replaces, never needing a version that left the archive: rebuilt from the cache when every
 * old .deb is there (exact: the lock describes it); else the image at an output or a push target whose packages equal
 * the old lock's; else rebuilt with the old .debs downloaded, while the archive (or a snapshot service) still serves
 * them; else none — the lock alone then describes it.
 */
async function oldImage(
  loaded: LoadedSpec,
  lockPath: string,
  oldLock: LockFile,
  archive: Archive,
  scratchLayout: string,
  options: UpdateOptions,
): Promise<{ from: 'rebuilt' | 'output' | 'pushed' | 'lock'; image?: Image | ImageIndex; location?: string }> {
  const rebuild = async (offline: boolean) =>
    (await build(loaded, { cacheDir: options.cacheDir, offline, snapshot: options.snapshot, onEvent: options.onEvent, cacheFrom: options.cacheFrom, registry: options.registry, lockPath, outputs: [`oci:${scratchLayout}:${loaded.spec.name}`] })).image;
  try {
    return { from: 'rebuilt', image: await rebuild(true) };
  } catch (e) {
    if (!isPithError(e, 'OFFLINE_MISSING')) throw e;
  }
  const outputs = (options.outputs?.length ? options.outputs : [`oci:${join(loaded.dir, 'out')}:${loaded.spec.name}`]).map((o) => ({ from: 'output' as const, location: o }));
  const pushed = (options.push ?? []).map((ref) => ({ from: 'pushed' as const, location: registryLocation(ref.replaceAll('{name}', loaded.spec.name)) }));
  for (const candidate of [...outputs, ...pushed]) {
    let image: Image | ImageIndex;
    try {
      image = await readImage(candidate.location, options.registry);
    } catch {
      continue; // not there (a first push, a fresh checkout): the next candidate
    }
    if (await holdsLock(image, oldLock)) return { ...candidate, image };
  }
  // Downloading the old .debs is worth it only while all are still to be had: one that left would fail the rebuild
  // after the rest were fetched for nothing.
  if (!options.offline && (specSnapshot(loaded, options.snapshot) !== undefined || stillServed(oldLock, archive))) {
    try {
      return { from: 'rebuilt', image: await rebuild(false) };
    } catch (e) {
      if (!isPithError(e, 'PACKAGE_GONE')) throw e;
    }
  }
  return { from: 'lock' };
}

/** Whether the archive still serves every .deb the lock pins (by SHA256). */
function stillServed(lockFile: LockFile, archive: Archive): boolean {
  return Object.entries(lockFile.architectures).every(([arch, locked]) => {
    const served = new Set(archive.packages(arch).map((p) => p.sha256));
    return [...locked.packages, ...(locked.baseFiles ? [locked.baseFiles] : [])].every((p) => served.has(p.sha256));
  });
}

/** Whether the image holds, for each locked architecture, exactly the old lock's packages (name and version). */
async function holdsLock(image: Image | ImageIndex, lockFile: LockFile): Promise<boolean> {
  const images = platformImages(image);
  const arches = Object.entries(lockFile.architectures);
  if (images.length !== arches.length) return false;
  for (const [arch, locked] of arches) {
    const want = platformForDebianArch(arch);
    const platform = images.find((i) => i.platform.architecture === want.architecture && i.platform.variant === want.variant);
    if (!platform) return false;
    const listed = (ps: Array<{ name: string; version: string }>) => ps.map((p) => `${p.name} ${p.version}`).sort(compareStrings);
    const expected = listed([...locked.packages, ...(locked.baseFiles ? [locked.baseFiles] : [])]);
    const found = listed((await imageInventory(platform)).packages);
    if (found.join('\n') !== expected.join('\n') && found.join('\n') !== listed(locked.packages).join('\n')) return false;
  }
  return true;
}

/**
 * One refresh of `pith serve`'s sources into a `FleetSnapshot`: spec directories (each lock, one image per
 * architecture), registries (every tag of every repository, each platform manifest an image whose packages come from
 * pith's attached SBOM, else from the dpkg database in its layers — images pith did not build count too) and
 * deployment manifests (which reference runs where, read as `pith rollout` reads them).
 *
 * A refresh never fails as a whole: a source that cannot be read becomes a `SourceError` and the others are still
 * read (what a registry held at the previous refresh stays while it cannot be read), and an image whose layers cannot
 * be read stays in the inventory with its `error`. A registry image is read once per refresh however many tags name
 * it, and not at all when the previous snapshot already read its digest: a manifest digest names its content for good.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lockRelease } from '../orchestrate/check.ts';
import { findSpecs } from '../orchestrate/fleet.ts';
import { deployedImages } from '../orchestrate/rollout.ts';
import { tryParseReference } from '../oci/reference.ts';
import { osRelease } from '../advisories/release.ts';
import { loadSpec } from '../config/spec.ts';
import { errorLine, isPithError } from '../errors.ts';
import { lockToRead, readLock } from '../lock/lock.ts';
import { forEachBounded } from '../net/bounded.ts';
import { DockerMediaType, MediaType, type Descriptor, type Digest } from '../oci/digest.ts';
import { platformForDebianArch, platformString, type Image } from '../oci/image.ts';
import { compareStrings } from '../order.ts';
import { repositoryScope } from '../registry/auth.ts';
import { listRepositories, listTags } from '../registry/catalog.ts';
import { RegistryClient, type RegistryOptions } from '../registry/client.ts';
import { readRemote } from '../registry/pull.ts';
import { CYCLONEDX_MEDIA_TYPE } from '../sbom/cyclonedx.ts';
import { imageInventory, TITLE } from '../sbom/inventory.ts';
import { sbomPackages } from '../sbom/packages.ts';
import { findInRegistry } from '../sbom/sbom.ts';
import { SPDX_MEDIA_TYPE } from '../sbom/spdx.ts';
import { STATUS } from '../assemble/installed.ts';
import { STATUS_D } from '../assemble/status.ts';
import type { RegistrySource, ServeConfig } from './config.ts';
import type { Deployment, FleetImage, FleetPackage, FleetSnapshot, ImageOrigin, SourceError } from './model.ts';

export interface ReadSourcesOptions {
  /**
   * The previous refresh: its registry images (by digest) are taken as they are instead of being read again, unless
   * they were recorded with an error (a layer the registry could not serve then may be served now); and what a
   * registry, repository or tag that cannot be read now held then is kept, its error in the snapshot's `errors`.
   */
  previous?: Pick<FleetSnapshot, 'images'>;
  /** Credentials and where they are looked up, retries; each configured registry adds its own `insecure`. */
  registry?: RegistryOptions;
  /** Registry images read at once (default 4). */
  jobs?: number;
  /** The time the refresh is stamped with (default now). */
  now?: Date;
}

export type SourcesConfig = Pick<ServeConfig, 'specs' | 'registries' | 'manifests'>;

/** Reads every configured source once. */
export async function readSources(config: SourcesConfig, options: ReadSourcesOptions = {}): Promise<FleetSnapshot> {
  const takenAt = (options.now ?? new Date()).toISOString();
  const errors: SourceError[] = [];
  const fromSpecs = readSpecImages(config.specs, errors);
  const registryImages = new RegistryImages((options.previous?.images ?? []).filter((i) => !i.digest.startsWith('lock:')), options.jobs ?? 4);
  for (const source of config.registries) await readRegistry(source, registryImages, errors, options.registry ?? {});
  const images = joinBuilds(fromSpecs, await registryImages.all());
  const deployments = readDeployments(config.manifests, images, errors);
  return { takenAt, images: images.sort(byNameAndDigest), deployments, errors };
}

/**
 * A registry image built from a spec's lock — the spec's name, the lock's platform and exactly its packages — is
 * that spec's image: it gains the spec as an origin and the lock stands for nothing more. A lock no pushed image
 * matches (not pushed yet, or pushed from an older lock) stays an image of its own.
 */
function joinBuilds(fromSpecs: readonly FleetImage[], fromRegistries: readonly FleetImage[]): FleetImage[] {
  const key = (i: FleetImage) => `${i.name}\0${i.platform}\0${i.packages.map((p) => `${p.name}:${p.architecture}=${p.version}`).sort(compareStrings).join(' ')}`;
  const built = new Map<string, FleetImage[]>();
  for (const i of fromRegistries) if (i.error === undefined) built.set(key(i), [...(built.get(key(i)) ?? []), i]);
  const images = fromRegistries.map((i) => ({ ...i, origins: [...i.origins] }));
  const byDigest = new Map(images.map((i) => [i.digest, i]));
  const out: FleetImage[] = [];
  for (const lock of fromSpecs) {
    const pushed = built.get(key(lock));
    if (!pushed) out.push(lock);
    for (const p of pushed ?? []) byDigest.get(p.digest)!.origins.unshift(...lock.origins);
  }
  return [...out, ...images];
}

function byNameAndDigest(a: FleetImage, b: FleetImage): number {
  return compareStrings(a.name, b.name) || compareStrings(a.digest, b.digest) || compareStrings(a.platform, b.platform);
}

// ------------------------------------------------------------------------------------------------------------ specs

/** Each spec's lock, one image per locked architecture, known by the lock file's digest. */
function readSpecImages(paths: readonly string[], errors: SourceError[]): FleetImage[] {
  const images: FleetImage[] = [];
  for (const path of paths) {
    let specs: string[];
    try {
      specs = findSpecs([path]);
    } catch (e) {
      errors.push({ source: `specs ${path}`, message: errorLine(e) });
      continue;
    }
    for (const specPath of specs) {
      try {
        const loaded = loadSpec(specPath);
        const lockPath = lockToRead(loaded);
        const lockFile = readLock(lockPath);
        // The file's own bytes: the same lock is the same image wherever it is checked out.
        const lockDigest = `lock:sha256:${createHash('sha256').update(readFileSync(lockPath)).digest('hex')}`;
        const release = lockRelease(lockFile).codename;
        const archs = Object.entries(lockFile.architectures);
        for (const [arch, { packages }] of archs) {
          // One image per architecture, each with a digest of its own (the store keys images by digest).
          const digest = archs.length === 1 ? lockDigest : `${lockDigest}:${arch}`;
          const origin: ImageOrigin = { kind: 'spec', spec: loaded.path, lock: lockPath, name: loaded.spec.name };
          // Two specs whose locks are byte for byte the same describe one image with two origins.
          const same = images.find((i) => i.digest === digest);
          if (same) {
            same.origins.push(origin);
            continue;
          }
          images.push({
            digest,
            platform: platformString(platformForDebianArch(arch)),
            name: loaded.spec.name,
            origins: [origin],
            inventory: 'lock',
            ...(release !== 'unknown' ? { release } : {}),
            packages: packages.map(fleetPackage),
          });
        }
      } catch (e) {
        errors.push({ source: `spec ${specPath}`, message: errorLine(e) });
      }
    }
  }
  return images;
}

function fleetPackage(p: FleetPackage): FleetPackage {
  return { name: p.name, version: p.version, architecture: p.architecture, source: p.source, sourceVersion: p.sourceVersion };
}

// -------------------------------------------------------------------------------------------------------- manifests

/**
 * What runs where, from the deployment files (as `pith rollout` reads them). A reference by tag gets the digest
 * that tag named in this refresh's registries, when it named exactly one (a multi-platform index names its own).
 */
function readDeployments(paths: readonly string[], images: readonly FleetImage[], errors: SourceError[]): Deployment[] {
  const tagged = new Map<string, Set<string>>();
  for (const image of images) {
    for (const o of image.origins) {
      if (o.kind !== 'registry') continue;
      const key = `${o.registry}/${o.repository}:${o.tag}`;
      if (!tagged.has(key)) tagged.set(key, new Set());
      tagged.get(key)!.add(o.index ?? image.digest);
    }
  }
  const deployments: Deployment[] = [];
  for (const path of paths) {
    let found: ReturnType<typeof deployedImages>;
    try {
      found = deployedImages([path]);
    } catch (e) {
      errors.push({ source: `manifests ${path}`, message: errorLine(e) });
      continue;
    }
    for (const e of found.errors) errors.push({ source: `manifest ${e.file}`, message: e.message });
    for (const d of found.images) {
      if (d.digest === undefined) {
        const ref = tryParseReference(d.reference);
        const digests = ref && tagged.get(`${ref.domain}/${ref.path}:${ref.tag ?? 'latest'}`);
        if (digests?.size === 1) d.digest = [...digests][0]!;
      }
      deployments.push(d);
    }
  }
  return deployments;
}

// ------------------------------------------------------------------------------------------------------- registries

const IMAGE_CONFIGS: ReadonlySet<string> = new Set([MediaType.config, DockerMediaType.config]);
const INDEXES: ReadonlySet<string> = new Set([MediaType.index, DockerMediaType.manifestList]);

/**
 * Tags that hold documents about an image, not an image: the referrers fallback index (`sha256-<hex>`) and cosign's
 * signature, attestation and SBOM tags (`sha256-<hex>.sig`, `.att`, `.sbom`).
 */
const ABOUT_AN_IMAGE = /^sha256-[0-9a-f]{64}(\.[a-z]+)?$/;

interface PlatformManifest {
  digest: Digest;
  /** From the index's descriptor; a lone manifest's platform is in its config. */
  platform?: string;
  /** The index the tag names, if it names one. */
  index?: Digest;
  /** The index's title, for a platform manifest that has none of its own. */
  indexTitle?: string;
}

type RegistryOrigin = Extract<ImageOrigin, { kind: 'registry' }>;

/** A registry, a repository in it, or one tag, that could not be listed or read in this refresh. */
type Unread = Pick<RegistryOrigin, 'registry'> & Partial<Pick<RegistryOrigin, 'repository' | 'tag'>>;

/**
 * The registry images of one refresh: each digest read once, whichever tags lead to it. What a registry that could
 * not be read held in the previous refresh is kept as it was (the snapshot's errors say it is stale), never dropped.
 */
class RegistryImages {
  private readonly seen = new Map<Digest, { manifest: PlatformManifest; origins: RegistryOrigin[]; options: RegistryOptions }>();
  private readonly unread: Unread[] = [];
  /** The previous refresh's images read without error: taken as they are instead of being read again. */
  private readonly reusable: ReadonlyMap<string, FleetImage>;

  constructor(private readonly previous: readonly FleetImage[], private readonly jobs: number) {
    this.reusable = new Map(previous.filter((i) => i.error === undefined).map((i) => [i.digest, i]));
  }

  /** Notes that `origin` names the platform manifest `m`. */
  add(m: PlatformManifest, origin: RegistryOrigin, options: RegistryOptions): void {
    const known = this.seen.get(m.digest);
    if (known) known.origins.push(origin);
    else this.seen.set(m.digest, { manifest: m, origins: [origin], options });
  }

  /** Notes a registry, repository or tag that could not be read now. */
  missed(unread: Unread): void {
    this.unread.push(unread);
  }

  /** Every image, read `jobs` at a time, with all the origins that named it (now, or before where nothing could be read now). */
  async all(): Promise<FleetImage[]> {
    const stale = new Map<Digest, { image: FleetImage; origins: RegistryOrigin[] }>();
    for (const image of this.previous) {
      const origins = image.origins.filter((o): o is RegistryOrigin => o.kind === 'registry' && this.unread.some((u) => u.registry === o.registry && (u.repository ?? o.repository) === o.repository && (u.tag ?? o.tag) === o.tag));
      if (origins.length > 0) stale.set(image.digest as Digest, { image, origins });
    }
    const out: FleetImage[] = [];
    await forEachBounded([...this.seen.values()], this.jobs, async ({ manifest, origins, options }) => {
      const image = this.reusable.get(manifest.digest) ?? (await readRegistryImage(manifest, origins[0]!, options));
      out.push({ ...image, origins: sortOrigins([...origins, ...(stale.get(manifest.digest)?.origins ?? [])]) });
    });
    for (const [digest, { image, origins }] of stale) if (!this.seen.has(digest)) out.push({ ...image, origins: sortOrigins(origins) });
    return out;
  }
}

function sortOrigins(origins: RegistryOrigin[]): RegistryOrigin[] {
  return origins.sort((a, b) => compareStrings(`${a.registry}/${a.repository}:${a.tag}`, `${b.registry}/${b.repository}:${b.tag}`));
}

/** One platform image, by digest, from the repository of `origin`; what cannot be read is the image's `error`. */
async function readRegistryImage(m: PlatformManifest, origin: RegistryOrigin, options: RegistryOptions): Promise<FleetImage> {
  const reference = `${origin.registry}/${origin.repository}@${m.digest}`;
  let image: Image;
  try {
    const x = await readRemote(reference, options);
    // By the digest of a platform manifest, the registry answers that one manifest.
    image = 'indexBytes' in x ? x.images[0]! : x;
  } catch (e) {
    return { digest: m.digest, platform: m.platform ?? 'unknown', name: m.indexTitle ?? origin.repository, origins: [], inventory: 'none', packages: [], error: errorLine(e) };
  }
  const known = { digest: m.digest, platform: platformString(image.platform), name: image.manifest.annotations?.[TITLE] ?? m.indexTitle ?? origin.repository, origins: [] };
  try {
    return { ...known, ...(await imagePackages(reference, image, options)) };
  } catch (e) {
    return { ...known, inventory: 'none', packages: [], error: errorLine(e) };
  }
}

/**
 * An image's packages: from its attached SBOM (SPDX, else CycloneDX) when it has one that can be read, else from
 * its layers — the image itself says what it holds, whatever was attached to it.
 */
async function imagePackages(reference: string, image: Image, options: RegistryOptions): Promise<Pick<FleetImage, 'inventory' | 'release' | 'packages'>> {
  for (const mediaType of [SPDX_MEDIA_TYPE, CYCLONEDX_MEDIA_TYPE]) {
    const document = await findInRegistry(reference, image.digest, mediaType, options);
    if (!document) continue;
    let read: ReturnType<typeof sbomPackages>;
    try {
      read = sbomPackages(document, `the ${mediaType} SBOM attached to ${reference}`);
    } catch (e) {
      if (isPithError(e, 'SBOM_UNREADABLE')) continue;
      throw e;
    }
    return { inventory: 'sbom', ...(read.release ? { release: read.release.codename } : {}), packages: read.packages.map(fleetPackage) };
  }
  const inv = await imageInventory(image, { where: `docker://${reference}` });
  const release = osRelease(inv.os)?.codename;
  const hasDatabase = inv.rootfs.files.has(STATUS) || [...inv.rootfs.files.keys()].some((p) => p.startsWith(`${STATUS_D}/`));
  return { inventory: hasDatabase ? 'status' : 'none', ...(release ? { release } : {}), packages: inv.packages.map(fleetPackage) };
}

/** Lists a registry's repositories and tags, and hands each tag's platform manifests to `images`. */
async function readRegistry(source: RegistrySource, images: RegistryImages, errors: SourceError[], base: RegistryOptions): Promise<void> {
  // One options object per registry and refresh: its clients (and their tokens) are shared by every request.
  // Layers are streamed as the inventory reads them, never held whole: a refresh reads several images at once.
  const options: RegistryOptions = { prefetchBytes: 0, ...base, insecure: [...(base.insecure ?? []), ...(source.insecure ? [source.registry] : [])] };
  const client = RegistryClient.open(source.registry, options);
  let repositories: string[];
  try {
    repositories = source.repositories ?? (await listRepositories(client));
  } catch (e) {
    errors.push({ source: `registry ${source.registry}`, message: errorLine(e) });
    images.missed({ registry: source.registry });
    return;
  }
  for (const repository of repositories) {
    const where = `registry ${source.registry}/${repository}`;
    const repoClient = RegistryClient.open(source.registry, options, repository);
    const scopes = [repositoryScope(repository, ['pull'])];
    let tags: string[];
    try {
      tags = (await listTags(repoClient, repository)).filter((t) => !ABOUT_AN_IMAGE.test(t));
    } catch (e) {
      errors.push({ source: where, message: errorLine(e) });
      images.missed({ registry: source.registry, repository });
      continue;
    }
    await forEachBounded(tags, repoClient.jobs, async (tag) => {
      try {
        const top = await repoClient.getManifest(repository, tag, scopes);
        for (const m of platformManifests(top.bytes, top.digest, top.mediaType)) images.add(m, { kind: 'registry' as const, registry: source.registry, repository, tag, ...(m.index ? { index: m.index } : {}) }, options);
      } catch (e) {
        errors.push({ source: `${where}:${tag}`, message: errorLine(e) });
        images.missed({ registry: source.registry, repository, tag });
      }
    });
  }
}

/**
 * The image manifests a tag leads to: the tag's own manifest, or each platform manifest of its index. Artifacts
 * (an SBOM, a signature pushed under a tag) and attestation manifests in an index (`unknown/unknown`) are not images.
 */
function platformManifests(bytes: Uint8Array, digest: Digest, mediaType: string): PlatformManifest[] {
  const doc = JSON.parse(new TextDecoder().decode(bytes)) as {
    mediaType?: string;
    artifactType?: string;
    config?: Descriptor;
    manifests?: Descriptor[];
    annotations?: Record<string, string>;
  };
  const type = doc.mediaType ?? mediaType;
  if (INDEXES.has(type) || Array.isArray(doc.manifests)) {
    if (doc.artifactType) return [];
    return (doc.manifests ?? [])
      .filter((d) => d.platform?.os !== 'unknown' && d.annotations?.['vnd.docker.reference.type'] === undefined)
      .map((d) => ({
        digest: d.digest,
        index: digest,
        ...(d.platform ? { platform: platformString(d.platform) } : {}),
        ...(doc.annotations?.[TITLE] ? { indexTitle: doc.annotations[TITLE] } : {}),
      }));
  }
  if (doc.artifactType || !doc.config || !IMAGE_CONFIGS.has(doc.config.mediaType)) return [];
  return [{ digest }];
}

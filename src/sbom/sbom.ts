/**
 * SBOMs for an image at any location (`oci:`, `oci-archive:`, `docker-archive:`, `docker://`): one document per
 * platform image, made from the image alone — or, in an OCI layout or a registry, the one attached to it when there
 * is one (the same bytes: documents are deterministic).
 */
import { PithError } from '../errors.ts';
import { isImageIndex, platformString, type Image, type ImageIndex } from '../oci/image.ts';
import { formatDestination, locateImage, parseDestination, readImage, type Destination, type PlatformOptions } from '../transports/transports.ts';
import type { Digest } from '../oci/digest.ts';
import { parseReference } from '../oci/reference.ts';
import type { RegistryOptions } from '../registry/client.ts';
import { attachArtifact, listReferrers, readArtifact } from '../registry/referrers.ts';
import { attachToLayout, findInLayout } from './attach.ts';
import { CYCLONEDX_MEDIA_TYPE, cyclonedxJson } from './cyclonedx.ts';
import { platformImages } from '../oci/read.ts';
import { imageInventory, TITLE, type ImageInventory } from './inventory.ts';
import { SPDX_MEDIA_TYPE, spdxJson } from './spdx.ts';
import type { SbomFormat } from './formats.ts';

export const SBOM_FORMATS: Record<SbomFormat, { mediaType: string; write: (inv: ImageInventory) => string }> = {
  spdx: { mediaType: SPDX_MEDIA_TYPE, write: spdxJson },
  cyclonedx: { mediaType: CYCLONEDX_MEDIA_TYPE, write: cyclonedxJson },
};

export interface SbomDocument {
  platform: string;
  /** The platform image's manifest digest. */
  digest: string;
  format: SbomFormat;
  document: string;
  /** Found attached to the image rather than computed. */
  attached: boolean;
}

export interface SbomOptions extends PlatformOptions {
  format: SbomFormat;
  /** Compute even when an attached SBOM exists. */
  fresh?: boolean;
  /** For `docker://` images: insecure registries, credentials. */
  registry?: RegistryOptions;
}

/** The SBOM of each platform image at `location` (one when `platform` picks it). */
export async function sbomFor(location: string | Destination, options: SbomOptions): Promise<SbomDocument[]> {
  const dest = typeof location === 'string' ? await locateImage(location) : location;
  const where = formatDestination(dest);
  const x = await readImage(dest, options.registry);
  const { mediaType, write } = SBOM_FORMATS[options.format];
  const out: SbomDocument[] = [];
  for (const image of platformImages(x, options)) {
    const platform = platformString(image.platform);
    if ((dest.transport === 'oci' || dest.transport === 'docker') && !options.fresh) {
      const found = dest.transport === 'oci'
        ? await findInLayout(dest.path, image.digest, mediaType)
        : await findInRegistry(dest.reference, image.digest, mediaType, options.registry);
      if (found) {
        out.push({ platform, digest: image.digest, format: options.format, document: new TextDecoder().decode(found), attached: true });
        continue;
      }
    }
    const inv = await imageInventory(image, { where, name: nameOf(x, image, dest) });
    out.push({ platform, digest: image.digest, format: options.format, document: write(inv), attached: false });
  }
  return out;
}

/** The one SBOM of the image at `location`: an SBOM describes one platform image, so an index needs `platform`. */
export async function sbomDocument(location: string | Destination, options: SbomOptions): Promise<SbomDocument> {
  const docs = await sbomFor(location, options);
  if (docs.length > 1) {
    const where = typeof location === 'string' ? location : formatDestination(location);
    throw new PithError('SBOM_PLATFORM_REQUIRED', `expected one platform image at ${where} (an SBOM describes one), found an index of ${docs.map((d) => d.platform).join(', ')}: choose one with --platform`);
  }
  return docs[0]!;
}

/** The newest SBOM of `artifactType` attached to `subject` in the registry repository of `reference`. */
export async function findInRegistry(reference: string, subject: Digest, artifactType: string, registry: RegistryOptions = {}): Promise<Uint8Array | undefined> {
  const ref = { ...parseReference(reference), tag: undefined, digest: subject };
  const { referrers } = await listReferrers(ref, { ...registry, artifactType });
  const match = referrers.at(-1);
  if (!match) return undefined;
  return (await readArtifact(ref, match, ref.digest, registry)).find((b) => b.mediaType === artifactType)?.bytes;
}

/** What the SBOM calls the image: its title annotation, else the tag or name it was read by. */
function nameOf(x: Image | ImageIndex, image: Image, dest: Destination): string | undefined {
  const title = image.manifest.annotations?.[TITLE] ?? (isImageIndex(x) ? x.index.annotations?.[TITLE] : undefined);
  if (title) return title;
  return dest.transport === 'docker-archive' || dest.transport === 'docker' ? dest.reference : dest.tag;
}

export interface AttachedSbom {
  destination: string;
  platform: string;
  format: SbomFormat;
  /** The artifact manifest's digest. */
  digest: string;
}

/**
 * Computes each platform image's SBOM in each format and stores it with the image at each `oci:` destination and
 * each registry (`docker://`), as an artifact referring to the image manifest (in a registry through its referrers
 * API, or the fallback tag when it has none). Archives cannot hold artifacts: they are returned in `skipped` for
 * the caller to say so.
 */
export async function attachSboms(
  destinations: readonly string[],
  x: Image | ImageIndex,
  formats: readonly SbomFormat[],
  options: { registry?: RegistryOptions } = {},
): Promise<{ attached: AttachedSbom[]; skipped: string[] }> {
  type Holder = Extract<Destination, { transport: 'oci' | 'docker' }>;
  const layouts = destinations.map((d) => parseDestination(d)).filter((d): d is Holder => d.transport === 'oci' || d.transport === 'docker');
  const skipped = destinations.filter((d) => !['oci', 'docker'].includes(parseDestination(d).transport));
  const attached: AttachedSbom[] = [];
  if (layouts.length === 0) return { attached, skipped };
  const images = isImageIndex(x) ? x.images : [x];
  for (const image of images) {
    const inv = await imageInventory(image, { name: nameOf(x, image, layouts[0]!) });
    for (const format of formats) {
      const { mediaType, write } = SBOM_FORMATS[format];
      const bytes = new TextEncoder().encode(write(inv));
      const artifact = { artifactType: mediaType, blobs: [{ mediaType, bytes }], annotations: { 'org.opencontainers.image.created': inv.created } };
      for (const dest of layouts) {
        const digest = dest.transport === 'oci'
          ? await attachToLayout(dest.path, image, artifact)
          : (await attachArtifact({ ...parseReference(dest.reference), tag: undefined, digest: image.digest }, artifact, options.registry)).digest;
        attached.push({ destination: formatDestination(dest), platform: platformString(image.platform), format, digest });
      }
    }
  }
  return { attached, skipped };
}

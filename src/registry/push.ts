/**
 * Writing an image or index to a registry (`pith push`, `pith build --push`, `pith copy … docker://…`): every
 * blob the images need — each checked with HEAD first, mounted when another repository of the registry is known
 * to hold it, else uploaded — a bounded number at a time, largest first; then each platform's manifest by digest,
 * and last the top manifest or index by tag, so a tag never points at anything incomplete. What the registry
 * already has is not sent again: a re-push sends no blob data and no manifest.
 */
import { PithError } from '../errors.ts';
import { forEachBounded } from '../net/bounded.ts';
import type { Digest } from '../oci/digest.ts';
import { isImageIndex, type Image, type ImageIndex } from '../oci/image.ts';
import { formatReference, parseReference, type Reference } from '../oci/reference.ts';
import { repositoryScope } from './auth.ts';
import { blobLocations, RegistryClient, type RegistryOptions } from './client.ts';
import { remoteOrigin } from './pull.ts';
import { emptyStats, pushBlob, type BlobToPush, type TransferStats } from './upload.ts';

export interface PushSummary {
  /** Fully qualified, e.g. "127.0.0.1:5000/team/app:1.0". */
  reference: string;
  /** Where it went when registries.conf maps the reference elsewhere. */
  location?: string;
  digest: Digest;
  blobs: { total: number; uploaded: number; skipped: number; mounted: number };
  /** Blob bytes sent, retries included; 0 when the registry had everything. */
  bytesSent: number;
  manifests: { pushed: number; skipped: number };
  /** Upload sessions resumed after a failed chunk, and started again after the registry dropped one. */
  resumed: number;
  restarted: number;
}

export async function pushImage(reference: string | Reference, x: Image | ImageIndex, options: RegistryOptions = {}): Promise<PushSummary> {
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  if (logical.digest !== undefined && logical.digest !== x.digest) {
    throw new PithError('REGISTRY_BAD_REFERENCE', `expected to push to ${formatReference(logical)} the image with that digest, found an image whose digest is ${x.digest}`);
  }
  const { client, ref } = await RegistryClient.primary(logical, options);
  const images = isImageIndex(x) ? x.images : [x];
  const blobs = new Map<Digest, BlobToPush>();
  const mountFrom = new Map<Digest, string[]>();
  for (const img of images) {
    const origin = remoteOrigin(img);
    const config = img.configBytes;
    const items: BlobToPush[] = [{ digest: img.manifest.config.digest, size: config.byteLength, bytes: async () => config }, ...img.layers];
    for (const b of items) {
      if (blobs.has(b.digest)) continue;
      // A layer that can stream is uploaded from its stream, never held whole.
      blobs.set(b.digest, { digest: b.digest, size: b.size, bytes: () => b.bytes(), ...(b.stream ? { stream: () => b.stream!() } : {}) });
      const from = new Set(blobLocations(client, b.digest));
      if (origin?.domain === client.domain) from.add(origin.repository);
      from.delete(ref.path);
      mountFrom.set(b.digest, [...from]);
    }
  }
  // One token covers the push and every repository a blob may be mounted from.
  const sources = [...new Set([...mountFrom.values()].flat())];
  const scopes = [repositoryScope(ref.path, ['pull', 'push']), ...sources.map((r) => repositoryScope(r, ['pull']))];

  // Already there: the tag (or digest) names exactly this manifest, and a registry accepts a manifest only once
  // every blob it references is in the repository — so one request settles an unchanged re-push.
  if ((await client.manifestDigest(ref.path, ref.tag ?? x.digest, scopes)) === x.digest) {
    const total = blobs.size;
    return {
      reference: formatReference(logical),
      ...(formatReference(ref) !== formatReference(logical) ? { location: formatReference(ref) } : {}),
      digest: x.digest,
      blobs: { total, uploaded: 0, skipped: total, mounted: 0 },
      bytesSent: 0,
      manifests: { pushed: 0, skipped: isImageIndex(x) ? x.images.length + 1 : 1 },
      resumed: 0,
      restarted: 0,
    };
  }

  const stats: TransferStats = emptyStats();
  const ordered = [...blobs.values()].sort((a, b) => b.size - a.size);
  await forEachBounded(ordered, client.jobs, async (b) => {
    await pushBlob(client, ref.path, b, { scopes, mountFrom: mountFrom.get(b.digest), stats });
  });

  const manifests = { pushed: 0, skipped: 0 };
  const putIfMissing = async (reference: string, digest: Digest, bytes: Uint8Array, mediaType: string) => {
    if ((await client.manifestDigest(ref.path, reference, scopes)) === digest) {
      manifests.skipped++;
      return;
    }
    await client.putManifest(ref.path, reference, bytes, mediaType, scopes);
    manifests.pushed++;
  };
  if (isImageIndex(x)) {
    await forEachBounded(x.images, client.jobs, (img) => putIfMissing(img.digest, img.digest, img.manifestBytes, img.manifest.mediaType));
  }
  const [topBytes, topType] = isImageIndex(x) ? [x.indexBytes, x.index.mediaType] : [x.manifestBytes, x.manifest.mediaType];
  await putIfMissing(ref.tag ?? x.digest, x.digest, topBytes, topType);

  return {
    reference: formatReference(logical),
    ...(formatReference(ref) !== formatReference(logical) ? { location: formatReference(ref) } : {}),
    digest: x.digest,
    blobs: { total: blobs.size, uploaded: stats.uploaded, skipped: stats.skipped, mounted: stats.mounted },
    bytesSent: stats.bytesSent,
    manifests,
    resumed: stats.resumed,
    restarted: stats.restarted,
  };
}

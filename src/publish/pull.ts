/**
 * Reading an image or index from a registry into the `Image`/`ImageIndex` model, so it can be written to any
 * transport (`pith pull`, `pith copy`). Manifests, indexes and configs are fetched when the image is opened;
 * layers when a writer asks for their bytes. Every manifest and blob is checked against its digest and size on
 * arrival: a registry (or anything between) that sends other bytes is refused with REGISTRY_DIGEST_MISMATCH.
 */
import { MediaType, DockerMediaType, type Digest } from '../oci/digest.ts';
import { isImageIndex, type Image, type ImageIndex } from '../oci/image.ts';
import { readGraph, type ContentSource } from '../oci/read.ts';
import { formatReference, manifestReference, parseReference, type Reference } from '../oci/reference.ts';
import { repositoryScope } from './auth.ts';
import { noteBlob, RegistryClient, type RegistryOptions } from './client.ts';

const KNOWN_TYPES: ReadonlySet<string> = new Set([MediaType.manifest, MediaType.index, DockerMediaType.manifest, DockerMediaType.manifestList]);

export interface RemoteOrigin {
  domain: string;
  repository: string;
}

/** The registry and repository an image was read from, so a push to the same registry can mount its blobs. */
const origins = new WeakMap<Image | ImageIndex, RemoteOrigin>();

export function remoteOrigin(x: Image | ImageIndex): RemoteOrigin | undefined {
  return origins.get(x);
}

export async function readRemote(reference: string | Reference, options: RegistryOptions = {}): Promise<Image | ImageIndex> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const client = RegistryClient.open(ref.domain, options, ref.path);
  const scopes = [repositoryScope(ref.path, ['pull'])];
  const top = await client.getManifest(ref.path, manifestReference(ref), scopes);
  const source: ContentSource = {
    where: `docker://${formatReference(ref)}`,
    manifest: async (d) => (await client.getManifest(ref.path, d.digest, scopes, d)).bytes,
    blob: (d) => client.getBlob(ref.path, d, scopes),
  };
  const x = await readGraph(
    { mediaType: KNOWN_TYPES.has(top.mediaType) ? top.mediaType : '', digest: top.digest, size: top.bytes.byteLength },
    top.bytes,
    source,
  );
  const origin = { domain: ref.domain, repository: ref.path };
  origins.set(x, origin);
  for (const img of isImageIndex(x) ? x.images : [x]) {
    origins.set(img, origin);
    const digests: Digest[] = [img.manifest.config.digest, ...img.layers.map((l) => l.digest)];
    for (const d of digests) noteBlob(client, ref.path, d);
  }
  return x;
}

/**
 * Referrers (OCI distribution spec 1.1): documents about an image — an SBOM, a signature, an attestation — stored
 * as artifact manifests whose `subject` names the image, and found again from the image's digest.
 *
 * Registries that implement the referrers API index such manifests themselves (they say so with an `OCI-Subject`
 * header when one is pushed) and list them at `GET /v2/<name>/referrers/<digest>`. For the others the spec's
 * fallback applies: an image index tagged `sha256-<hex of the subject digest>` lists the referrers, and whoever
 * pushes one adds it there. Both are handled here, the same way for reading and for writing.
 */
import { PithError } from '../errors.ts';
import { artifactManifest, EMPTY_JSON, fallbackTag, referrersIndex, type Artifact, type ReferrerDescriptor } from '../oci/artifact.ts';
import { digestOf, MediaType, type Descriptor, type Digest } from '../oci/digest.ts';
import { formatReference, manifestReference, parseReference, type Reference } from '../oci/reference.ts';
import { repositoryScope } from './auth.ts';
import { MANIFEST_LIMIT, RegistryClient, type RegistryOptions } from './client.ts';
import { emptyStats, pushBlob } from './upload.ts';
import { oneAtATime } from '../net/bounded.ts';

export { artifactManifest, EMPTY_JSON, fallbackTag, type Artifact, type ReferrerDescriptor };

async function subjectOf(client: RegistryClient, ref: Reference, scopes: readonly string[]): Promise<Descriptor> {
  const m = await client.getManifest(ref.path, manifestReference(ref), scopes);
  return { mediaType: m.mediaType || MediaType.manifest, digest: m.digest, size: m.bytes.byteLength };
}

export interface AttachResult {
  /** The artifact manifest's digest. */
  digest: Digest;
  subject: Digest;
  /** 'api': the registry indexes referrers itself; 'tag': the fallback index was updated. */
  via: 'api' | 'tag';
}

/** Pushes an artifact about the image at `reference` (a tag or digest) and makes it findable from the image. */
export async function attachArtifact(reference: string | Reference, artifact: Artifact, options: RegistryOptions = {}): Promise<AttachResult> {
  return (await attachArtifacts(reference, [artifact], options))[0]!;
}

/**
 * Pushes several artifacts about one image at once (their uploads in parallel), updating the fallback index, when
 * the registry needs it, once for all of them: in the order given, after the referrers already listed.
 */
export async function attachArtifacts(reference: string | Reference, artifacts: readonly Artifact[], options: RegistryOptions = {}): Promise<AttachResult[]> {
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  const { client, ref } = await RegistryClient.primary(logical, options);
  const scopes = [repositoryScope(ref.path, ['pull', 'push'])];
  const subject = await subjectOf(client, ref, scopes);
  const stats = emptyStats();
  const blobs = new Map([EMPTY_JSON, ...artifacts.flatMap((a) => a.blobs)].map((b) => [digestOf(b.bytes), b.bytes]));
  await Promise.all([...blobs].map(([digest, bytes]) => pushBlob(client, ref.path, { digest, size: bytes.byteLength, bytes: async () => bytes }, { scopes, stats })));
  const manifests = artifacts.map((a) => artifactManifest(subject, a));
  const indexed = await Promise.all(manifests.map(async ({ bytes, digest }) =>
    (await client.putManifest(ref.path, digest, bytes, MediaType.manifest, scopes)).headers.get('oci-subject') === subject.digest));

  const listed = manifests.filter((_, i) => !indexed[i]);
  if (listed.length > 0) {
    const tag = fallbackTag(subject.digest);
    await oneAtATime(`${client.domain}/${ref.path}:${tag}`, async () => {
      const current = await fallbackIndex(client, ref.path, tag, scopes);
      const added = listed.filter((m) => !current.some((d) => d.digest === m.digest)).map((m) => m.descriptor);
      if (added.length > 0) await client.putManifest(ref.path, tag, referrersIndex([...current, ...added]), MediaType.index, scopes);
    });
  }
  return manifests.map(({ digest }, i) => ({ digest, subject: subject.digest, via: indexed[i] ? 'api' : 'tag' }));
}

async function fallbackIndex(client: RegistryClient, repository: string, tag: string, scopes: readonly string[]): Promise<ReferrerDescriptor[]> {
  if ((await client.manifestDigest(repository, tag, scopes)) === undefined) return [];
  const { bytes } = await client.getManifest(repository, tag, scopes);
  return manifestsOf(bytes, `the referrers index ${tag} in ${client.domain}/${repository}`);
}

function manifestsOf(bytes: Uint8Array, where: string): ReferrerDescriptor[] {
  let parsed: { manifests?: unknown };
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes)) as { manifests?: unknown };
  } catch (e) {
    throw new PithError('REGISTRY_BAD_RESPONSE', `expected an image index as JSON for ${where}, found ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed.manifests)) throw new PithError('REGISTRY_BAD_RESPONSE', `expected a "manifests" array in ${where}, found none`);
  return parsed.manifests as ReferrerDescriptor[];
}

export interface Referrers {
  subject: Digest;
  via: 'api' | 'tag';
  referrers: ReferrerDescriptor[];
}

/** The artifacts about the image at `reference`, optionally only those of one artifact type. */
export async function listReferrers(reference: string | Reference, options: RegistryOptions & { artifactType?: string } = {}): Promise<Referrers> {
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  const { client, ref } = await RegistryClient.primary(logical, options, 'read the referrers of');
  const scopes = [repositoryScope(ref.path, ['pull'])];
  const subject = ref.digest ?? (await subjectOf(client, ref, scopes)).digest;
  const query = options.artifactType ? `?artifactType=${encodeURIComponent(options.artifactType)}` : '';
  const { bytes, res } = await client.getBytes({
    url: `/v2/${ref.path}/referrers/${subject}${query}`, scopes, ok: [200, 404], headers: { accept: MediaType.index },
    what: `the referrers of ${formatReference({ ...ref, digest: subject })}`,
  }, MANIFEST_LIMIT);
  const keep = (ds: ReferrerDescriptor[]) => (options.artifactType ? ds.filter((d) => d.artifactType === options.artifactType) : ds);
  if (res.status === 200) {
    return { subject, via: 'api', referrers: keep(manifestsOf(bytes, `the referrers of ${subject} in ${ref.domain}/${ref.path}`)) };
  }
  return { subject, via: 'tag', referrers: keep(await fallbackIndex(client, ref.path, fallbackTag(subject), scopes)) };
}

/**
 * The documents of an artifact listed by `listReferrers`, from the repository of `reference`: the artifact manifest
 * (checked against the descriptor, and against the subject it claims) and each of its blobs, checked by digest.
 */
export async function readArtifact(
  reference: string | Reference,
  descriptor: ReferrerDescriptor,
  subject: Digest,
  options: RegistryOptions = {},
): Promise<Array<{ mediaType: string; bytes: Uint8Array }>> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const client = RegistryClient.open(ref.domain, options, ref.path);
  const scopes = [repositoryScope(ref.path, ['pull'])];
  const where = `the artifact ${descriptor.digest} in ${ref.domain}/${ref.path}`;
  const { bytes } = await client.getManifest(ref.path, descriptor.digest, scopes, descriptor);
  let manifest: { subject?: Descriptor; layers?: Descriptor[] };
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes)) as typeof manifest;
  } catch (e) {
    throw new PithError('REGISTRY_BAD_RESPONSE', `expected ${where} to be a manifest as JSON, found ${(e as Error).message}`);
  }
  if (manifest.subject?.digest !== subject || !Array.isArray(manifest.layers)) {
    throw new PithError('REGISTRY_BAD_RESPONSE', `expected ${where} to be about ${subject} and list its documents, found subject ${manifest.subject?.digest ?? 'none'}`);
  }
  const blobs: Array<{ mediaType: string; bytes: Uint8Array }> = [];
  for (const layer of manifest.layers) blobs.push({ mediaType: layer.mediaType, bytes: await client.getBlob(ref.path, layer, scopes) });
  return blobs;
}

/**
 * SBOMs stored with the image: in an OCI layout, each SBOM is an artifact manifest whose `subject` is the platform
 * image's manifest, listed in the referrers fallback index tagged `sha256-<hex of the image digest>` — the schema
 * registries without the referrers API use, which skopeo, oras and regclient read. `pith sbom oci:…` finds an
 * attached SBOM there before computing one.
 */
import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { PithError } from '../errors.ts';
import { artifactManifest, EMPTY_JSON, fallbackTag, referrersIndex, type Artifact, type ReferrerDescriptor } from '../oci/artifact.ts';
import { digestHex, digestOf, MediaType, type Descriptor, type Digest } from '../oci/digest.ts';
import type { Image } from '../oci/image.ts';
import { addToLayout, readIndexJson, REF_NAME, type Blob } from '../oci/layout.ts';
import { checkContent } from '../oci/read.ts';

const blob = (bytes: Uint8Array): Blob => ({ digest: digestOf(bytes), size: bytes.byteLength, bytes: async () => bytes });

async function readBlob(dir: string, d: Pick<Descriptor, 'digest' | 'size'>): Promise<Uint8Array | undefined> {
  const path = join(resolve(dir), 'blobs', 'sha256', digestHex(d.digest));
  const bytes = await fs.readFile(path).catch(() => undefined);
  return bytes === undefined ? undefined : checkContent(new Uint8Array(bytes), d, 'OCI_BLOB_MISMATCH', path);
}

/** The artifacts listed for `subject` in the layout's fallback index (none when it has none). */
export async function layoutReferrers(dir: string, subject: Digest): Promise<ReferrerDescriptor[]> {
  const index = await readIndexJson(join(resolve(dir), 'index.json'));
  const top = index.manifests.find((d) => d.annotations?.[REF_NAME] === fallbackTag(subject));
  if (!top) return [];
  const bytes = await readBlob(dir, top);
  if (!bytes) throw new PithError('OCI_MISSING_BLOB', `expected the referrers index ${top.digest} of ${subject} in oci:${dir}, found no blob`);
  const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { manifests?: ReferrerDescriptor[] };
  return Array.isArray(parsed.manifests) ? parsed.manifests : [];
}

/** Stores `artifact` about `subject` in the layout at `dir` and lists it in the subject's fallback index. */
export async function attachToLayout(dir: string, subject: Image, artifact: Artifact): Promise<Digest> {
  const subjectDescriptor: Descriptor = { mediaType: subject.manifest.mediaType, digest: subject.digest, size: subject.manifestBytes.byteLength };
  const { bytes, digest, descriptor } = artifactManifest(subjectDescriptor, artifact);
  const current = await layoutReferrers(dir, subject.digest);
  const listed = current.some((d) => d.digest === digest) ? current : [...current, descriptor];
  const index = referrersIndex(listed);
  await addToLayout(dir, [blob(EMPTY_JSON.bytes), ...artifact.blobs.map((b) => blob(b.bytes)), blob(bytes), blob(index)], { mediaType: MediaType.index, digest: digestOf(index), size: index.byteLength }, fallbackTag(subject.digest));
  return digest;
}

/** The first document of the newest artifact of `artifactType` attached to `subject` in the layout, if any. */
export async function findInLayout(dir: string, subject: Digest, artifactType: string): Promise<Uint8Array | undefined> {
  const match = (await layoutReferrers(dir, subject)).filter((d) => d.artifactType === artifactType).at(-1);
  if (!match) return undefined;
  const manifestBytes = await readBlob(dir, match);
  if (!manifestBytes) throw new PithError('OCI_MISSING_BLOB', `expected the artifact manifest ${match.digest} about ${subject} in oci:${dir}, found no blob`);
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as { layers?: Descriptor[]; subject?: Descriptor };
  const layer = manifest.layers?.[0];
  if (manifest.subject?.digest !== subject || !layer) {
    throw new PithError('OCI_BAD_MANIFEST', `expected the artifact ${match.digest} in oci:${dir} to be about ${subject} and hold a document, found subject ${manifest.subject?.digest ?? 'none'}`);
  }
  const doc = await readBlob(dir, layer);
  if (!doc) throw new PithError('OCI_MISSING_BLOB', `expected the document ${layer.digest} of the artifact ${match.digest} in oci:${dir}, found no blob`);
  return doc;
}

/**
 * OCI 1.1 artifacts about an image — an SBOM, a signature — as manifests whose `subject` names the image, and the
 * referrers "fallback tag" (`sha256-<hex of the subject digest>`), an index listing them, for stores without a
 * referrers API: an OCI layout, or a registry that predates it. Readable by any tool that reads a tagged index.
 */
import { canonicalJson } from '../json.ts';
import { describe, digestHex, digestOf, MediaType, type Descriptor, type Digest } from './digest.ts';

/** The OCI empty descriptor's content: artifacts with nothing to configure use it as their config. */
export const EMPTY_JSON = { mediaType: 'application/vnd.oci.empty.v1+json', bytes: new TextEncoder().encode('{}') } as const;

export interface ReferrerDescriptor extends Descriptor {
  artifactType?: string;
}

export interface Artifact {
  /** What the artifact is, e.g. "application/spdx+json". */
  artifactType: string;
  /** Its documents, each stored as a blob (a "layer" of the artifact manifest). */
  blobs: Array<{ mediaType: string; bytes: Uint8Array; annotations?: Record<string, string> }>;
  annotations?: Record<string, string>;
}

/** The tag the fallback schema keeps a subject's referrers under. */
export function fallbackTag(subject: Digest): string {
  return `sha256-${digestHex(subject)}`;
}

/** An OCI 1.1 artifact manifest about `subject`. */
export function artifactManifest(subject: Descriptor, artifact: Artifact): { bytes: Uint8Array; digest: Digest; descriptor: ReferrerDescriptor } {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    artifactType: artifact.artifactType,
    config: describe(EMPTY_JSON.mediaType, EMPTY_JSON.bytes),
    layers: artifact.blobs.map((b) => describe(b.mediaType, b.bytes, b.annotations ? { annotations: b.annotations } : undefined)),
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(artifact.annotations ? { annotations: artifact.annotations } : {}),
  };
  const bytes = new TextEncoder().encode(canonicalJson(manifest));
  const descriptor: ReferrerDescriptor = {
    mediaType: MediaType.manifest,
    digest: digestOf(bytes),
    size: bytes.byteLength,
    artifactType: artifact.artifactType,
    ...(artifact.annotations ? { annotations: artifact.annotations } : {}),
  };
  return { bytes, digest: descriptor.digest, descriptor };
}

/** The fallback index listing `referrers`. */
export function referrersIndex(referrers: readonly ReferrerDescriptor[]): Uint8Array {
  return new TextEncoder().encode(canonicalJson({ schemaVersion: 2, mediaType: MediaType.index, manifests: referrers }));
}

/**
 * Content addresses and descriptors, the vocabulary every OCI object uses to point at another. Only SHA-256 is
 * produced or accepted: it is what the image spec requires registries and runtimes to support.
 */
import { PithError } from '../errors.ts';
import { sha256Hex } from '../cache/store.ts';

export type Digest = `sha256:${string}`;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function digestOf(bytes: Uint8Array | string): Digest {
  return `sha256:${sha256Hex(bytes)}`;
}

/**
 * Bytes whose digest pith has computed itself — made here, or checked on arrival — so a writer that must store
 * only verified bytes need not hash them again. Blob bytes are never changed once they have a digest.
 */
const computed = new WeakMap<Uint8Array, Digest>();

/** Records `digest` as the digest of `bytes`, which the caller has just computed. */
export function noteDigest(bytes: Uint8Array, digest: Digest): Uint8Array {
  computed.set(bytes, digest);
  return bytes;
}

/** The digest of these very bytes (this object), when pith computed it; else computed now. */
export function knownDigest(bytes: Uint8Array): Digest {
  return computed.get(bytes) ?? digestOf(bytes);
}

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST.test(value);
}

/** Checks a digest read from a file or the user; `where` names its origin for the error. */
export function parseDigest(value: unknown, where: string): Digest {
  if (!isDigest(value)) {
    throw new PithError('OCI_BAD_DIGEST', `expected a digest "sha256:<64 lower-case hex digits>" in ${where}, found ${JSON.stringify(value)}`);
  }
  return value;
}

/** The hex part, used as the blob's file name. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

export const MediaType = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** Docker's image manifest schema 2, which registries still serve for images docker pushed; pith reads them as is. */
export const DockerMediaType = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  manifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export function isGzipLayer(mediaType: string): boolean {
  return mediaType === MediaType.layerGzip || mediaType === DockerMediaType.layerGzip;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

/** The descriptor of bytes exactly as they are stored: digest and size are of these bytes, never re-encoded. */
export function describe(mediaType: string, bytes: Uint8Array, extra?: Pick<Descriptor, 'annotations' | 'platform'>): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...extra };
}

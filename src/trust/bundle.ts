/**
 * Sigstore bundles (https://github.com/sigstore/protobuf-specs, `Bundle` in sigstore_bundle.proto; media type
 * `application/vnd.dev.sigstore.bundle.v0.3+json`): one JSON document that carries a signature — a DSSE envelope or
 * a bare message signature — with what verifies it (a public key hint, or a certificate with its transparency log
 * entries). Newer cosign attaches image signatures and attestations as bundles through the OCI referrers API; pith
 * writes them the same way so that `cosign verify --new-bundle-format`, policy-controller and `@sigstore/verify` can
 * read them.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { Digest } from '../oci/digest.ts';
import { attachArtifacts, type AttachResult } from '../registry/referrers.ts';
import type { RegistryOptions } from '../registry/client.ts';
import { parseReference, type Reference } from '../oci/reference.ts';
import { keyFingerprint, signBytes, type DsseEnvelope } from './dsse.ts';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/** The JSON form of a v0.3 bundle, as far as pith writes and reads it (keyed; keyless adds a certificate and tlog entries). */
export interface SigstoreBundle {
  mediaType: typeof BUNDLE_MEDIA_TYPE;
  verificationMaterial: {
    publicKey?: { hint: string };
    certificate?: { rawBytes: string };
    tlogEntries: unknown[];
    timestampVerificationData?: { rfc3161Timestamps: unknown[] };
  };
  dsseEnvelope?: DsseEnvelope;
  messageSignature?: { messageDigest: { algorithm: 'SHA2_256'; digest: string }; signature: string };
}

/** The hint a keyed bundle names its key by: the SHA-256 of the key's SPKI DER, hex (what verifiers look the key up by). */
export function publicKeyHint(publicKey: KeyObject): string {
  return keyFingerprint(publicKey);
}

/** A keyed bundle around a signed DSSE envelope. */
export function dsseBundle(envelope: DsseEnvelope, publicKey: KeyObject): SigstoreBundle {
  return {
    mediaType: BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: publicKeyHint(publicKey) }, tlogEntries: [] },
    dsseEnvelope: envelope,
  };
}

/** A keyed bundle holding an ECDSA signature over `message`. */
export function messageSignatureBundle(message: Uint8Array, privateKey: KeyObject, publicKey: KeyObject): SigstoreBundle {
  return {
    mediaType: BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: publicKeyHint(publicKey) }, tlogEntries: [] },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(message).digest('base64') },
      signature: signBytes(privateKey, message).toString('base64'),
    },
  };
}

/**
 * Attaches `bundle` to the image `digest` in the repository of `reference` as an OCI referrer (artifactType = the
 * bundle media type, one layer holding the bundle), through the referrers API or the fallback tag.
 * `annotations` go on the artifact manifest (cosign sets `dev.sigstore.bundle.content` and
 * `dev.sigstore.bundle.predicateType` there).
 */
export async function attachBundle(reference: string | Reference, digest: Digest, bundle: SigstoreBundle, annotations: Record<string, string>, options: RegistryOptions = {}): Promise<AttachResult> {
  return (await attachBundles(reference, digest, [{ bundle, annotations }], options))[0]!;
}

/** Attaches several bundles to the image `digest` as attachBundle does, at once (one fallback index update). */
export function attachBundles(reference: string | Reference, digest: Digest, bundles: ReadonlyArray<{ bundle: SigstoreBundle; annotations: Record<string, string> }>, options: RegistryOptions = {}): Promise<AttachResult[]> {
  const at: Reference = { ...(typeof reference === 'string' ? parseReference(reference) : reference), tag: undefined, digest };
  return attachArtifacts(at, bundles.map(({ bundle, annotations }) => {
    const bytes = new TextEncoder().encode(JSON.stringify(bundle));
    return { artifactType: BUNDLE_MEDIA_TYPE, blobs: [{ mediaType: BUNDLE_MEDIA_TYPE, bytes }], annotations };
  }), options);
}

/**
 * Signing and verifying an image in a registry with a key file, whichever format the key's kind picks: an ECDSA key
 * signs in cosign's two forms (cosign.ts), an OpenPGP key is read (keys.ts) but
 * containers/image's simple signing is not written yet, so it is refused here by name.
 * This is what `pith sign`, `pith verify` and every `--sign`/`--verify` flag call.
 */
import type { RegistryOptions } from '../registry/client.ts';
import type { Digest } from '../oci/digest.ts';
import { PithError } from '../errors.ts';
import { signImage, verifyImageSignatures, type ImageVerification, type SignImageResult } from './cosign.ts';
import { loadSigningKey, loadVerificationKey, type SigningKey, type VerificationKey } from './keys.ts';

export interface SignOptions extends RegistryOptions {
  now?: Date;
}

export interface SignReport {
  reference: string;
  format: 'cosign';
  /** Every manifest signed: an index and each of its platform images, or one image. */
  digests: Digest[];
  cosign?: SignImageResult;
}

export async function sign(reference: string, key: string | SigningKey, options: SignOptions = {}): Promise<SignReport> {
  const signing = typeof key === 'string' ? await loadSigningKey(key) : key;
  if (signing.kind === 'ecdsa') {
    const cosign = await signImage(reference, signing, options);
    return { reference, format: 'cosign', digests: cosign.signatures.map((s) => s.digest), cosign };
  }
  throw new PithError('KEY_INVALID', `${signing.file} is an OpenPGP key: pith signs with ECDSA P-256 keys (pith keygen); containers/image's OpenPGP simple signing is not supported yet`);
}

export type VerifyOptions = RegistryOptions;

export interface VerifyReport {
  reference: string;
  digest: Digest;
  format: 'cosign';
  cosign?: ImageVerification;
}

/** Verifies the image at `reference`; throws a named error (SIGNATURE_NOT_FOUND, SIGNATURE_INVALID, …) when it fails. */
export async function verify(reference: string, key: string | VerificationKey, options: VerifyOptions = {}): Promise<VerifyReport> {
  const verification = typeof key === 'string' ? await loadVerificationKey(key) : key;
  if (verification.kind === 'ecdsa') {
    const cosign = await verifyImageSignatures(reference, verification, options);
    return { reference, digest: cosign.digest, format: 'cosign', cosign };
  }
  throw new PithError('KEY_INVALID', `${verification.file} is an OpenPGP key: pith verifies with ECDSA P-256 keys (SPKI PEM); containers/image's OpenPGP simple signing is not supported yet`);
}

/**
 * Signing and verifying an image in a registry, whichever format the signer picks: an ECDSA key signs in cosign's
 * two forms (cosign.ts); keyless signing asks a Fulcio for a certificate and logs in a Rekor (keyless.ts); either
 * may also attest the build (attest.ts); an OpenPGP key signs in containers/image's simple-signing format, into a
 * lookaside (simplesigning.ts).
 * This is what `pith sign`, `pith verify` and every `--sign`/`--verify` flag call.
 */
import type { RegistryOptions } from '../registry/client.ts';
import type { AttachResult } from '../registry/referrers.ts';
import type { Digest } from '../oci/digest.ts';
import { parseReference } from '../oci/reference.ts';
import { repositoryScope } from '../registry/auth.ts';
import { RegistryClient } from '../registry/client.ts';
import { PithError } from '../errors.ts';
import { attestImage, SLSA_PROVENANCE_V1, verifyAttestations, type AttestationReport, type AttestOptions, type AttestReport } from './attest.ts';
import { signedDigests, signImage, verifyImageSignatures, type ImageVerification, type SignImageResult } from './cosign.ts';
import { attachKeylessSignature, trustedRootOf, verifyKeylessImage, type KeylessImageVerification, type KeylessPolicy, type KeylessSignOptions } from './keyless.ts';
import { loadSigningKey, loadVerificationKey, type SigningKey, type VerificationKey } from './keys.ts';
import { simpleSignImage, verifySimpleSignatures, type SimpleSignature, type SimpleVerification } from './simplesigning.ts';

/** Who signs: a private key (file or loaded), or keyless (an OIDC identity certified by a Fulcio). */
export type Signer = string | SigningKey | { keyless: KeylessSignOptions };
/** Who must have signed: a public key (file or loaded), or a keyless identity and issuer. */
export type Verifier = string | VerificationKey | { keyless: KeylessPolicy };

export interface SignOptions extends RegistryOptions {
  now?: Date;
  /**
   * Also attest how the image was built: the SLSA provenance of the spec and its lock, and the image's SBOMs
   * (attest.ts), signed with the same key. Registry settings come from these options.
   */
  attest?: Omit<AttestOptions, keyof RegistryOptions>;
  /** Where an OpenPGP key's simple signatures are written: a directory or a `file://` URL. */
  lookaside?: string;
}

export interface SignReport {
  reference: string;
  format: 'cosign' | 'keyless' | 'simple-signing';
  /** Every manifest signed: an index and each of its platform images, or one image. */
  digests: Digest[];
  cosign?: SignImageResult;
  simpleSigning?: SimpleSignature[];
  /** Keyless: each digest's bundle referrer. */
  keyless?: Array<{ digest: Digest; attached: AttachResult }>;
  attestations?: AttestReport;
}

/**
 * A signer ready to sign many images: a key file opened (a wrong path or passphrase fails here, before anything is
 * built or sent), a loaded key or keyless settings as they are.
 */
export async function openSigner(signer: Signer, intent: { attest?: boolean; lookaside?: string } = {}): Promise<Exclude<Signer, string>> {
  const opened = typeof signer === 'string' ? await loadSigningKey(signer) : signer;
  if ('kind' in opened && opened.kind === 'openpgp') {
    if (intent.attest) throw attestNeedsOtherKey(opened.file);
    if (intent.lookaside === undefined) throw lookasideNeeded(opened.file, 'sign');
  }
  return opened;
}

/** A verifier ready for many images: a key file read, a keyless policy's trusted root read; once. */
export async function openVerifier(verifier: Verifier): Promise<Exclude<Verifier, string>> {
  if (typeof verifier === 'string') return loadVerificationKey(verifier);
  if (!isKeyless<KeylessPolicy>(verifier)) return verifier;
  return { keyless: { ...verifier.keyless, trustedRoot: await trustedRootOf(verifier.keyless) } };
}

const isKeyless = <T extends object>(x: unknown): x is { keyless: T } => typeof x === 'object' && x !== null && 'keyless' in x;

export async function sign(reference: string, signer: Signer, options: SignOptions = {}): Promise<SignReport> {
  if (isKeyless<KeylessSignOptions>(signer)) {
    const logical = parseReference(reference);
    const { client, ref } = await RegistryClient.primary(logical, options, 'sign');
    const keyless: NonNullable<SignReport['keyless']> = [];
    for (const digest of await signedDigests(client, ref, [repositoryScope(ref.path, ['pull', 'push'])])) {
      const { attached } = await attachKeylessSignature(logical, digest, { ...signer.keyless, ...options });
      keyless.push({ digest, attached });
    }
    const attestations = options.attest ? await attestImage(reference, signer, { ...options, ...options.attest }) : undefined;
    return { reference, format: 'keyless', digests: keyless.map((k) => k.digest), keyless, ...(attestations ? { attestations } : {}) };
  }
  const signing = typeof signer === 'string' ? await loadSigningKey(signer) : signer;
  if (signing.kind === 'ecdsa') {
    // The signatures and the attestations live under different tags, so they are written at once (their shared
    // referrers fallback index is updated one writer at a time: registry/referrers.ts).
    const [cosign, attestations] = await Promise.all([
      signImage(reference, signing, options),
      options.attest ? attestImage(reference, signing, { ...options, ...options.attest }) : undefined,
    ]);
    return { reference, format: 'cosign', digests: cosign.signatures.map((s) => s.digest), cosign, ...(attestations ? { attestations } : {}) };
  }
  if (options.attest) throw attestNeedsOtherKey(signing.file);
  if (options.lookaside === undefined) throw lookasideNeeded(signing.file, 'sign');
  const simpleSigning = await simpleSignImage(reference, signing, { ...options, lookaside: options.lookaside });
  return { reference, format: 'simple-signing', digests: simpleSigning.map((s) => s.digest), simpleSigning };
}

const attestNeedsOtherKey = (file: string) =>
  new PithError('USAGE', `${file} is an OpenPGP key, which signs images in containers/image's simple-signing format; attestations (in-toto, DSSE) are signed with an ECDSA key or keylessly: add --no-attest, or sign with pith keygen's key`);

const lookasideNeeded = (file: string, what: string) =>
  new PithError('USAGE', `${file} is an OpenPGP key: its simple signatures live in a lookaside (containers-registries.d(5)), not in the registry; give --lookaside DIR|URL to ${what} there`);

export interface VerifyOptions extends RegistryOptions {
  /**
   * A lock the image's provenance must have been built from (its digest and every resolved `.deb`); implies that a
   * verified SLSA provenance is required.
   */
  lock?: string;
  /** Attestation predicate types that must each verify (attest.ts: SLSA_PROVENANCE_V1, SPDX_PREDICATE_TYPE, …). */
  attestations?: readonly string[];
  /** Where an OpenPGP key's simple signatures are read: a directory, a `file://` or an `http(s)://` URL. */
  lookaside?: string;
}

export interface VerifyReport {
  reference: string;
  digest: Digest;
  format: 'cosign' | 'keyless' | 'simple-signing';
  cosign?: ImageVerification;
  simpleSigning?: SimpleVerification;
  keyless?: KeylessImageVerification;
  attestations?: AttestationReport;
}

/** Verifies the image at `reference`; throws a named error (SIGNATURE_NOT_FOUND, SIGNATURE_INVALID, …) when it fails. */
export async function verify(reference: string, verifier: Verifier, options: VerifyOptions = {}): Promise<VerifyReport> {
  const required = [...new Set([...(options.lock !== undefined ? [SLSA_PROVENANCE_V1] : []), ...(options.attestations ?? [])])];
  if (isKeyless<KeylessPolicy>(verifier)) {
    const keyless = await verifyKeylessImage(reference, verifier.keyless, options);
    const attestations = required.length
      ? await verifyAttestations({ ...parseReference(reference), tag: undefined, digest: keyless.digest }, verifier, { ...options, require: required })
      : undefined;
    return { reference, digest: keyless.digest, format: 'keyless', keyless, ...(attestations ? { attestations } : {}) };
  }
  const verification = typeof verifier === 'string' ? await loadVerificationKey(verifier) : verifier;
  if (verification.kind === 'ecdsa') {
    const cosign = await verifyImageSignatures(reference, verification, options);
    const attestations = required.length
      ? await verifyAttestations({ ...parseReference(reference), tag: undefined, digest: cosign.digest }, verification, { ...options, require: required })
      : undefined;
    return { reference, digest: cosign.digest, format: 'cosign', cosign, ...(attestations ? { attestations } : {}) };
  }
  if (required.length) throw new PithError('USAGE', `${verification.file} holds OpenPGP keys, which check simple signatures; attestations are verified with an ECDSA public key or a keyless identity`);
  if (options.lookaside === undefined) throw lookasideNeeded(verification.file, 'verify');
  const simpleSigning = await verifySimpleSignatures(reference, verification, { ...options, lookaside: options.lookaside });
  return { reference, digest: simpleSigning.digest, format: 'simple-signing', simpleSigning };
}

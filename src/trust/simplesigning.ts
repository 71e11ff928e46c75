/**
 * containers/image's "simple signing" with OpenPGP keys: the format podman, skopeo, CRI-O and OpenShift check with a
 * `signedBy` policy (containers-policy.json(5)), and the only image signatures Debian's podman and skopeo verify
 * (their sigstore support is disabled at build time).
 *
 * - The signed document (docs/containers-signature.5.md; signature/simple.go `untrustedSignature.MarshalJSON`):
 *   `{"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},"type":"atomic container
 *   signature"},"optional":{"creator":C,"timestamp":T}}`, signed as an OpenPGP message that contains it (not
 *   detached, not clear-signed), binary — what `gpg --sign` writes and signature/mechanism.go reads.
 * - Storage (docs/signature-protocols.md, docker/registries_d.go `lookasideStorageBaseURL` and
 *   `lookasideStorageURL`): under a lookaside base URL, `<base>/<repository path>@sha256=<hex>/signature-N`, N from
 *   1 with no gaps; the repository path has no registry host ("team/app", "library/debian"). A `file://` base (or a
 *   directory) is read and written; an `http(s)://` base is only read: signature-1, -2, … until one is missing.
 * - Identity (signature/policy_reference_match.go, the default `matchRepoDigestOrExact`): an image named by digest
 *   accepts a signature naming the same repository; named by tag, only one naming exactly that tag.
 */
import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as openpgp from 'openpgp';
import { makeDirs, tempSibling, unwritable } from '../cache/store.ts';
import { PithError, type ErrorCode } from '../errors.ts';
import { fetchBytes } from '../net/fetch.ts';
import { digestHex, type Digest } from '../oci/digest.ts';
import { formatReference, manifestReference, parseReference, type Reference } from '../oci/reference.ts';
import { repositoryScope } from '../registry/auth.ts';
import { RegistryClient, type RegistryOptions } from '../registry/client.ts';
import { PITH_VERSION } from '../version.ts';
import { failureCode, signedDigests } from './cosign.ts';
import type { SigningKey, VerificationKey } from './keys.ts';

export const ATOMIC_SIGNATURE_TYPE = 'atomic container signature';

/** The document a simple signing signs, with its fields in containers/image's order. */
export function simpleSigningDocument(dockerReference: string, digest: Digest, timestamp: number): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: ATOMIC_SIGNATURE_TYPE },
    optional: { creator: `pith ${PITH_VERSION}`, timestamp },
  }));
}

/** The lookaside URL of a base given as a directory, a `file:` URL or an `http(s):` URL. */
function lookasideBase(lookaside: string): URL {
  const url = /^[a-z][a-z0-9+.-]*:/i.test(lookaside) ? new URL(lookaside) : pathToFileURL(resolve(lookaside));
  if (!['file:', 'http:', 'https:'].includes(url.protocol)) {
    throw new PithError('USAGE', `expected the lookaside to be a directory, a file:// URL or an http(s):// URL, found ${JSON.stringify(lookaside)}`);
  }
  return url;
}

/** Where signature `n` (from 1) of `digest` in `repository` lives under the lookaside `base`. */
export function lookasideSignatureUrl(base: string, repository: string, digest: Digest, n: number): string {
  const url = lookasideBase(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${repository}@sha256=${digestHex(digest)}/signature-${n}`;
  return url.href;
}

const MAX_SIGNATURES = 1000;

/** Every signature stored for `digest`: signature-1, -2, … up to the first one missing. */
async function readSignatures(base: string, repository: string, digest: Digest): Promise<Array<{ url: string; bytes: Uint8Array }>> {
  const found: Array<{ url: string; bytes: Uint8Array }> = [];
  for (let n = 1; n <= MAX_SIGNATURES; n++) {
    const url = lookasideSignatureUrl(base, repository, digest, n);
    try {
      found.push({ url, bytes: await fetchBytes(url, { attempts: 2 }) });
    } catch (e) {
      if (e instanceof PithError && e.code === 'HTTP_NOT_FOUND') break;
      throw e;
    }
  }
  return found;
}

export interface SimpleSignature {
  digest: Digest;
  /** Where the signature was stored, or the one already there that this key had made for this image and name. */
  url: string;
  added: boolean;
}

export interface SimpleSignOptions extends RegistryOptions {
  /** Where signatures are stored: a directory or a `file://` URL (an `http(s)://` lookaside is read-only). */
  lookaside: string;
  now?: Date;
}

/**
 * Signs the image at `reference` (already in a registry) — an index and each of its platform manifests — naming it
 * as the reference does (with its tag, if it has one: what a pull by that tag checks), into the lookaside.
 */
export async function simpleSignImage(reference: string | Reference, key: SigningKey, options: SimpleSignOptions): Promise<SimpleSignature[]> {
  if (key.kind !== 'openpgp') throw new PithError('KEY_INVALID', `expected an OpenPGP secret key for containers/image's simple signing, found an ECDSA key in ${key.file}`);
  const base = lookasideBase(options.lookaside);
  if (base.protocol !== 'file:') throw new PithError('USAGE', `an ${base.protocol}// lookaside is read-only (containers-registries.d(5)): sign into a directory or file:// URL and publish it there, found ${options.lookaside}`);
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  const { client, ref } = await RegistryClient.primary(logical, options, 'sign');
  const identity = formatReference({ ...logical, digest: logical.tag === undefined ? logical.digest : undefined });
  const timestamp = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const publicKeys = [key.privateKey.toPublic()];
  const out: SimpleSignature[] = [];
  for (const digest of await signedDigests(client, ref, [repositoryScope(ref.path, ['pull'])])) {
    // A signature this key already made for this image under this name counts: signing again adds nothing.
    const existing = await readSignatures(base.href, logical.path, digest);
    const same = await firstValid(existing, publicKeys, digest, logical, identity);
    if (same) {
      out.push({ digest, url: same, added: false });
      continue;
    }
    const message = await openpgp.createMessage({ binary: simpleSigningDocument(identity, digest, timestamp) });
    const signature = await openpgp.sign({ message, signingKeys: key.privateKey, format: 'binary' });
    out.push({ digest, url: await storeSignature(base.href, logical.path, digest, signature, existing.length + 1), added: true });
  }
  return out;
}

async function firstValid(signatures: ReadonlyArray<{ url: string; bytes: Uint8Array }>, keys: openpgp.PublicKey[], digest: Digest, image: Reference, identity: string): Promise<string | undefined> {
  for (const s of signatures) {
    const checked = await checkSignature(s.bytes, keys, digest, image, s.url);
    if ('dockerReference' in checked && checked.dockerReference === identity) return s.url;
  }
  return undefined;
}

/** Writes the next free signature-N, never replacing one: a complete temp file, then a hard link that fails if taken. */
async function storeSignature(base: string, repository: string, digest: Digest, bytes: Uint8Array, from: number): Promise<string> {
  let target = fileURLToPath(lookasideSignatureUrl(base, repository, digest, from));
  try {
    await makeDirs(join(target, '..'));
    const temp = tempSibling(target);
    await fs.writeFile(temp, bytes, { flag: 'wx', mode: 0o644 });
    try {
      for (let n = from; n <= MAX_SIGNATURES; n++) {
        target = fileURLToPath(lookasideSignatureUrl(base, repository, digest, n));
        try {
          await fs.link(temp, target);
          return pathToFileURL(target).href;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
      throw new PithError('OUTPUT_UNWRITABLE', `expected a free signature slot under ${join(target, '..')}, found ${MAX_SIGNATURES} signatures there`);
    } finally {
      await fs.rm(temp, { force: true });
    }
  } catch (e) {
    if (e instanceof PithError) throw e;
    throw unwritable(e, target, 'the signature');
  }
}

export interface SimpleVerification {
  digest: Digest;
  /** Each signature that verified: where it is, the name it signs, and the fingerprint of the key that made it. */
  verified: Array<{ url: string; dockerReference: string; fingerprint: string }>;
  rejected: Array<{ url: string; code: ErrorCode; reason: string }>;
}

/**
 * Checks the simple signatures of the image at `reference` in the lookaside: at least one must be an OpenPGP
 * message signed by one of `key`'s keys, of the critical type, about the image's digest, naming it (as
 * `matchRepoDigestOrExact` does). Otherwise SIGNATURE_NOT_FOUND (none stored) or the first rejection's code.
 */
export async function verifySimpleSignatures(reference: string | Reference, key: VerificationKey, options: RegistryOptions & { lookaside: string }): Promise<SimpleVerification> {
  if (key.kind !== 'openpgp') throw new PithError('KEY_INVALID', `expected OpenPGP public keys (gpg --export) for containers/image's simple signing, found an ECDSA key in ${key.file}`);
  const base = lookasideBase(options.lookaside).href;
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  const { client, ref } = await RegistryClient.primary(logical, options, 'verify');
  const digest = logical.digest ?? (await client.getManifest(ref.path, manifestReference(ref), [repositoryScope(ref.path, ['pull'])])).digest;
  const result: SimpleVerification = { digest, verified: [], rejected: [] };
  for (const s of await readSignatures(base, logical.path, digest)) {
    const checked = await checkSignature(s.bytes, key.publicKeys, digest, logical, s.url);
    if ('code' in checked) result.rejected.push({ url: s.url, ...checked });
    else result.verified.push({ url: s.url, ...checked });
  }
  if (result.verified.length === 0) {
    const image = `${logical.domain}/${logical.path}@${digest}`;
    if (result.rejected.length === 0) {
      throw new PithError('SIGNATURE_NOT_FOUND', `expected a simple signature of ${image} at ${lookasideSignatureUrl(base, logical.path, digest, 1)}, found none`);
    }
    throw new PithError(failureCode(result.rejected), `no simple signature of ${image} verifies with the keys of ${key.file}: ${result.rejected.map((r) => r.reason).join('; ')}`);
  }
  return result;
}

type Checked = { dockerReference: string; fingerprint: string } | { code: ErrorCode; reason: string };

/** One stored signature checked against keys, digest and name; what it signs, or why it is refused. */
async function checkSignature(bytes: Uint8Array, keys: openpgp.PublicKey[], digest: Digest, image: Reference, where: string): Promise<Checked> {
  let text: Uint8Array;
  let fingerprint: string;
  try {
    const message = await openpgp.readMessage({ binaryMessage: bytes });
    const { data, signatures } = await openpgp.verify({ message, verificationKeys: keys, format: 'binary', expectSigned: true });
    text = data as Uint8Array;
    const signer = keys.find((k) => k.getKeyIDs().some((id) => id.equals(signatures[0]!.keyID)));
    fingerprint = (signer?.getFingerprint() ?? signatures[0]!.keyID.toHex()).toUpperCase();
  } catch (e) {
    return { code: 'SIGNATURE_INVALID', reason: `${where} is not an OpenPGP message signed by one of the given keys (another key, or changed bytes): ${(e as Error).message}` };
  }
  let doc: { critical?: { identity?: { 'docker-reference'?: unknown }; image?: { 'docker-manifest-digest'?: unknown }; type?: unknown } };
  try {
    doc = JSON.parse(new TextDecoder().decode(text)) as typeof doc;
  } catch (e) {
    return { code: 'SIGNATURE_INVALID', reason: `${where} signs something that is not JSON: ${(e as Error).message}` };
  }
  const c = doc?.critical;
  if (c?.type !== ATOMIC_SIGNATURE_TYPE) return { code: 'SIGNATURE_INVALID', reason: `${where} has critical.type ${JSON.stringify(c?.type)}, expected "${ATOMIC_SIGNATURE_TYPE}"` };
  if (c.image?.['docker-manifest-digest'] !== digest) {
    return { code: 'SIGNATURE_WRONG_IMAGE', reason: `${where} signs ${String(c.image?.['docker-manifest-digest'])}, not ${digest}` };
  }
  const named = c.identity?.['docker-reference'];
  let signed: Reference;
  try {
    signed = parseReference(String(named));
  } catch {
    return { code: 'SIGNATURE_INVALID', reason: `${where} names ${JSON.stringify(named)}, which is no image reference` };
  }
  const sameRepository = signed.domain === image.domain && signed.path === image.path;
  const matches = image.digest !== undefined ? sameRepository : sameRepository && signed.tag === image.tag && signed.digest === undefined;
  if (!matches) {
    return { code: 'SIGNATURE_WRONG_IMAGE', reason: `${where} names ${String(named)}, not ${formatReference(image)}` };
  }
  return { dockerReference: String(named), fingerprint };
}

/**
 * Image signatures as cosign writes them with a key, in both of its forms, so that `cosign verify --key`,
 * policy-controller and Kyverno accept pith's images:
 *
 * - the tag form (cosign's specs/SIGNATURE_SPEC.md): a "simple signing" payload
 *   (`application/vnd.dev.cosign.simplesigning.v1+json`, sigstore/sigstore pkg/signature/payload/payload.go) stored
 *   as a layer of an OCI image manifest tagged `sha256-<hex>.sig` in the image's repository, the base64 DER ECDSA
 *   signature over the payload in the layer's `dev.cosignproject.cosign/signature` annotation. The config is the
 *   one go-containerregistry's mutate.Append makes from cosign's empty image (pkg/oci/empty): a zero-time history
 *   entry and a diff_id per layer. A new signature is appended to the layers already there, never replacing them.
 * - the bundle form (`cosign sign --new-bundle-format`, cmd/cosign/cli/sign/sign.go signDigestBundle): an in-toto
 *   statement whose subject is the image digest and predicateType `https://sigstore.dev/cosign/sign/v1` (predicate
 *   `{}`), signed as DSSE into a Sigstore bundle v0.3, attached as an OCI referrer annotated
 *   `dev.sigstore.bundle.content: dsse-envelope` and `dev.sigstore.bundle.predicateType`.
 *
 * Signing an index signs the index and each manifest it lists, as `cosign sign --recursive` does.
 */
import { KeyObject } from 'node:crypto';
import { PithError, type ErrorCode } from '../errors.ts';
import { describe, digestHex, digestOf, DockerMediaType, MediaType, type Descriptor, type Digest } from '../oci/digest.ts';
import { DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN, manifestReference, parseReference, type Reference } from '../oci/reference.ts';
import { repositoryScope } from '../registry/auth.ts';
import { RegistryClient, type RegistryOptions } from '../registry/client.ts';
import { listReferrers, readArtifact, type AttachResult } from '../registry/referrers.ts';
import { emptyStats, pushBlob } from '../registry/upload.ts';
import { attachBundle, BUNDLE_MEDIA_TYPE, dsseBundle, type SigstoreBundle } from './bundle.ts';
import { IN_TOTO_PAYLOAD_TYPE, keyFingerprint, openEnvelope, signBytes, signEnvelope, verifyBytes, type DsseEnvelope } from './dsse.ts';
import type { SigningKey, VerificationKey } from './keys.ts';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';
/** cosign's pkg/types CosignSignPredicateType. */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';
/** The in-toto Statement layer, v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md). */
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';

/**
 * The repository as cosign names it in `docker-reference`: go-containerregistry's `Repository.Name()`, registry
 * and path, where Docker Hub is `index.docker.io` (name.DefaultRegistry), not `docker.io`.
 */
export function cosignIdentity(reference: string | Reference): string {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  return `${ref.domain === DEFAULT_DOMAIN ? LEGACY_DEFAULT_DOMAIN : ref.domain}/${ref.path}`;
}

/**
 * The payload cosign signs: Go's encoding/json of payload.SimpleContainerImage — keys in struct order, no spaces,
 * `"optional":null` when there are no annotations.
 */
export function simpleSigningPayload(dockerReference: string, digest: Digest): Uint8Array {
  const doc = { critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: COSIGN_SIGNATURE_TYPE }, optional: null };
  return new TextEncoder().encode(JSON.stringify(doc));
}

/** The in-toto statement `cosign sign --new-bundle-format` signs for an image digest. */
export function cosignSignStatement(digest: Digest): Uint8Array {
  const doc = { _type: IN_TOTO_STATEMENT_V1, subject: [{ digest: { sha256: digestHex(digest) } }], predicateType: COSIGN_SIGN_PREDICATE_TYPE, predicate: {} };
  return new TextEncoder().encode(JSON.stringify(doc));
}

/** The tag cosign stores the signatures of `digest` under (pkg/oci/remote's SignatureTag). */
export function signatureTag(digest: Digest): string {
  return `sha256-${digestHex(digest)}.sig`;
}

/**
 * The annotations cosign puts on a bundle referrer (pkg/oci/remote/write.go WriteAttestationNewBundleFormat), the
 * signing time at second precision as its time.RFC3339 writes it.
 */
export const bundleAnnotations = (predicateType: string, now: Date): Record<string, string> => ({
  'dev.sigstore.bundle.content': 'dsse-envelope',
  'dev.sigstore.bundle.predicateType': predicateType,
  'org.opencontainers.image.created': now.toISOString().replace(/\.\d+Z$/, 'Z'),
});

export interface SignImageOptions extends RegistryOptions {
  /** The signing time written on bundle referrers; now when unset. */
  now?: Date;
}

export interface Manifest {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

export function parseManifest(bytes: Uint8Array, where: string): Manifest {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as Manifest;
  } catch (e) {
    throw new PithError('REGISTRY_BAD_RESPONSE', `expected ${where} to be a manifest as JSON, found ${(e as Error).message}`);
  }
}

export const isIndex = (mediaType: string | undefined) => mediaType === MediaType.index || mediaType === DockerMediaType.manifestList;

/**
 * The config go-containerregistry writes for cosign's signature image with these layers (`mutate.Append` on
 * pkg/oci/empty): Go's encoding/json of pkg/v1/config.go's ConfigFile, fields in struct order, zero times kept.
 */
function signatureConfig(layers: readonly Descriptor[]): Uint8Array {
  const zero = '0001-01-01T00:00:00Z';
  const config = {
    architecture: '', created: zero, history: layers.map(() => ({ created: zero })), os: '',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: {},
  };
  return new TextEncoder().encode(JSON.stringify(config));
}

export function ecdsaSigning(key: SigningKey): { privateKey: KeyObject; publicKey: KeyObject } {
  if (key.kind !== 'ecdsa') throw new PithError('KEY_INVALID', `expected an ECDSA P-256 key to sign in cosign's formats, found an OpenPGP key in ${key.file}`);
  return key;
}

export function ecdsaVerifying(key: KeyObject | VerificationKey): KeyObject {
  if (key instanceof KeyObject) return key;
  if (key.kind !== 'ecdsa') throw new PithError('KEY_INVALID', `expected an ECDSA P-256 public key to verify cosign's formats, found OpenPGP keys in ${key.file}`);
  return key.publicKey;
}

export interface ImageSignature {
  digest: Digest;
  /** The `.sig` tag and whether this signature was added to it (false: an identical one was there). */
  tag: { name: string; appended: boolean };
  bundle: AttachResult;
}

export interface SignImageResult {
  reference: string;
  /** The digest the reference resolved to (the index, for a multi-platform image), then each platform manifest. */
  signatures: ImageSignature[];
}

/** The digests to sign: the manifest (or index) the reference names, then each manifest an index lists. */
export async function signedDigests(client: RegistryClient, ref: Reference, scopes: readonly string[]): Promise<Digest[]> {
  const top = await client.getManifest(ref.path, manifestReference(ref), scopes);
  const m = parseManifest(top.bytes, `${ref.domain}/${ref.path}@${top.digest}`);
  return isIndex(top.mediaType || m.mediaType) ? [top.digest, ...(m.manifests ?? []).map((d) => d.digest)] : [top.digest];
}

/** Signs the image at `reference` (already in the registry) in both cosign forms. */
export async function signImage(reference: string | Reference, key: SigningKey, options: SignImageOptions = {}): Promise<SignImageResult> {
  const { privateKey, publicKey } = ecdsaSigning(key);
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  const { client, ref } = await RegistryClient.primary(logical, options, 'sign');
  const scopes = [repositoryScope(ref.path, ['pull', 'push'])];
  const identity = cosignIdentity(logical);
  const annotations = bundleAnnotations(COSIGN_SIGN_PREDICATE_TYPE, options.now ?? new Date());
  const signatures: ImageSignature[] = [];
  for (const digest of await signedDigests(client, ref, scopes)) {
    const payload = simpleSigningPayload(identity, digest);
    const bundle = dsseBundle(signEnvelope(IN_TOTO_PAYLOAD_TYPE, cosignSignStatement(digest), privateKey), publicKey);
    // The two forms touch different tags, so they are written at once: signing costs round trips, not CPU.
    const [appended, attached] = await Promise.all([
      appendTagSignature(client, ref.path, digest, payload, signBytes(privateKey, payload).toString('base64'), publicKey, scopes),
      attachBundle({ ...logical, tag: undefined, digest }, digest, bundle, annotations, options),
    ]);
    signatures.push({ digest, tag: { name: signatureTag(digest), appended }, bundle: attached });
  }
  return { reference: typeof reference === 'string' ? reference : `${logical.domain}/${logical.path}`, signatures };
}

/**
 * Adds a layer to the `.sig` manifest of `digest`, keeping the layers there. A layer with the same payload whose
 * signature verifies with this key already counts as this signature (cosign's DupeDetector): ECDSA signatures are
 * randomised, so comparing bytes would append a copy on every run.
 */
async function appendTagSignature(client: RegistryClient, repository: string, digest: Digest, payload: Uint8Array, signature: string, publicKey: KeyObject, scopes: readonly string[]): Promise<boolean> {
  const tag = signatureTag(digest);
  const existing = await readTagLayers(client, repository, tag, scopes);
  const layer = describe(SIMPLE_SIGNING_MEDIA_TYPE, payload, { annotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature } });
  const same = existing.some((l) => l.digest === layer.digest && verifyBytes(publicKey, payload, Buffer.from(l.annotations?.[COSIGN_SIGNATURE_ANNOTATION] ?? '', 'base64')));
  if (same) return false;
  await writeTagLayers(client, repository, tag, [...existing, layer], [payload], scopes);
  return true;
}

/** The layers of cosign's signature (or attestation) manifest tagged `tag`; none when the tag is absent. */
export async function readTagLayers(client: RegistryClient, repository: string, tag: string, scopes: readonly string[]): Promise<Descriptor[]> {
  if ((await client.manifestDigest(repository, tag, scopes)) === undefined) return [];
  const { bytes } = await client.getManifest(repository, tag, scopes);
  return parseManifest(bytes, `${repository}:${tag}`).layers ?? [];
}

/**
 * Writes cosign's manifest under `tag` with `layers`, pushing the `added` payloads (the layers' blobs not yet in
 * the repository) and the config go-containerregistry makes for them.
 */
export async function writeTagLayers(client: RegistryClient, repository: string, tag: string, layers: readonly Descriptor[], added: readonly Uint8Array[], scopes: readonly string[]): Promise<void> {
  const config = signatureConfig(layers);
  const stats = emptyStats();
  await Promise.all([...added, config].map((bytes) => pushBlob(client, repository, { digest: digestOf(bytes), size: bytes.byteLength, bytes: async () => bytes }, { scopes, stats })));
  // go-containerregistry's field order: schemaVersion, mediaType, config, layers; descriptors mediaType, size, digest, annotations.
  const order = (d: Descriptor) => ({ mediaType: d.mediaType, size: d.size, digest: d.digest, ...(d.annotations ? { annotations: d.annotations } : {}) });
  const manifest = { schemaVersion: 2, mediaType: MediaType.manifest, config: order(describe(MediaType.config, config)), layers: layers.map(order) };
  await client.putManifest(repository, tag, new TextEncoder().encode(JSON.stringify(manifest)), MediaType.manifest, scopes);
}

export interface VerifiedSignature {
  form: 'tag' | 'bundle';
  /** The digest the signature covers (the image's). */
  digest: Digest;
  /** Where it was found: the `.sig` tag's layer digest, or the referrer's manifest digest. */
  source: Digest;
  /** The repository the payload names (tag form). */
  dockerReference?: string;
}

export interface RejectedSignature {
  form: 'tag' | 'bundle';
  source: Digest;
  /** SIGNATURE_INVALID or SIGNATURE_WRONG_IMAGE; a keyless one also CERTIFICATE_* or TLOG_* (keyless.ts). */
  code: ErrorCode;
  reason: string;
}

export interface ImageVerification {
  digest: Digest;
  /** SHA-256 of the public key's SPKI DER. */
  key: string;
  verified: VerifiedSignature[];
  /** Signatures found that did not verify (others may have): wrong key, tampered, or about another image. */
  rejected: RejectedSignature[];
}

/**
 * Checks the cosign signatures of the image at `reference` with `publicKey`, in both forms: each must verify, name
 * the image's digest and (tag form) its repository. Succeeds when at least one does, as `cosign verify` does;
 * otherwise SIGNATURE_NOT_FOUND (none at all) or the first rejection's code.
 */
export async function verifyImageSignatures(reference: string | Reference, publicKey: KeyObject | VerificationKey, options: RegistryOptions = {}): Promise<ImageVerification> {
  const key = ecdsaVerifying(publicKey);
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  const { client, ref } = await RegistryClient.primary(logical, options, 'verify');
  const scopes = [repositoryScope(ref.path, ['pull'])];
  const digest = logical.digest ?? (await client.getManifest(ref.path, manifestReference(ref), scopes)).digest;
  const identity = cosignIdentity(logical);
  const verified: VerifiedSignature[] = [];
  const rejected: RejectedSignature[] = [];

  const tag = signatureTag(digest);
  for (const layer of await readTagLayers(client, ref.path, tag, scopes)) {
    if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    const payload = await client.getBlob(ref.path, layer, scopes);
    const outcome = checkSimpleSigning(payload, layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION], key, digest, identity, `${ref.path}:${tag} layer ${layer.digest}`);
    if (typeof outcome === 'string') verified.push({ form: 'tag', digest, source: layer.digest, dockerReference: outcome });
    else rejected.push({ form: 'tag', source: layer.digest, ...outcome });
  }

  const { referrers } = await listReferrers({ ...logical, tag: undefined, digest }, { ...options, artifactType: BUNDLE_MEDIA_TYPE });
  for (const d of referrers) {
    if (d.annotations?.['dev.sigstore.bundle.predicateType'] !== COSIGN_SIGN_PREDICATE_TYPE) continue;
    const outcome = await checkBundle(logical, d, digest, keyOpener(key), options);
    if ('_type' in outcome && outcome.predicateType !== COSIGN_SIGN_PREDICATE_TYPE) {
      rejected.push({ form: 'bundle', source: d.digest, code: 'SIGNATURE_INVALID', reason: `the bundle ${d.digest} signs a ${String(outcome.predicateType)} statement, not ${COSIGN_SIGN_PREDICATE_TYPE}` });
    } else if ('_type' in outcome) verified.push({ form: 'bundle', digest, source: d.digest });
    else rejected.push({ form: 'bundle', source: d.digest, ...outcome });
  }

  if (verified.length === 0) {
    const where = `${identity}@${digest}`;
    if (rejected.length === 0) throw new PithError('SIGNATURE_NOT_FOUND', `expected a cosign signature of ${where} (tag ${tag} or a Sigstore bundle referrer), found none`);
    const message = `no signature of ${where} verifies with key ${keyFingerprint(key)}: ${rejected.map((r) => r.reason).join('; ')}`;
    throw new PithError(failureCode(rejected), message);
  }
  return { digest, key: keyFingerprint(key), verified, rejected };
}

export type Rejection = Pick<RejectedSignature, 'code' | 'reason'>;

/**
 * The code of a verification that found signatures but none good: SIGNATURE_WRONG_IMAGE when one is about another
 * image (it verified, so that is what the user must fix), else the first rejection's (another key, a bad certificate).
 */
export function failureCode(rejected: ReadonlyArray<{ code: ErrorCode }>): ErrorCode {
  return rejected.some((r) => r.code === 'SIGNATURE_WRONG_IMAGE') ? 'SIGNATURE_WRONG_IMAGE' : rejected[0]!.code;
}

/** The docker-reference of a simple-signing payload that verifies and is about `digest` in `identity`; a rejection otherwise. */
function checkSimpleSigning(payload: Uint8Array, signature: string | undefined, key: KeyObject, digest: Digest, identity: string, where: string): string | Rejection {
  if (!signature || !verifyBytes(key, payload, Buffer.from(signature, 'base64'))) {
    return { code: 'SIGNATURE_INVALID', reason: `the signature of ${where} does not verify (another key, or a changed payload)` };
  }
  let doc: { critical?: { identity?: { 'docker-reference'?: unknown }; image?: { 'docker-manifest-digest'?: unknown }; type?: unknown } };
  try {
    doc = JSON.parse(new TextDecoder().decode(payload)) as typeof doc;
  } catch (e) {
    return { code: 'SIGNATURE_INVALID', reason: `the payload of ${where} is not JSON: ${(e as Error).message}` };
  }
  const c = doc.critical;
  if (c?.type !== COSIGN_SIGNATURE_TYPE) return { code: 'SIGNATURE_INVALID', reason: `the payload of ${where} has type ${JSON.stringify(c?.type)}, expected "${COSIGN_SIGNATURE_TYPE}"` };
  if (c.image?.['docker-manifest-digest'] !== digest) {
    return { code: 'SIGNATURE_WRONG_IMAGE', reason: `the payload of ${where} signs ${String(c.image?.['docker-manifest-digest'])}, not ${digest}` };
  }
  if (c.identity?.['docker-reference'] !== identity) {
    return { code: 'SIGNATURE_WRONG_IMAGE', reason: `the payload of ${where} names the repository ${String(c.identity?.['docker-reference'])}, not ${identity}` };
  }
  return identity;
}

/** An in-toto statement as read back: fields checked where they are used. */
export interface ReadStatement {
  _type: unknown;
  subject?: Array<{ name?: unknown; digest?: { sha256?: unknown } }>;
  predicateType?: unknown;
  predicate?: unknown;
}

/**
 * Opens the DSSE envelope of a Sigstore bundle, returning its verified payload or throwing a PithError: with a
 * public key (`keyOpener`), or keylessly with a certificate and transparency-log proof (keyless.ts `keylessOpener`).
 */
export type BundleOpener = (bundle: SigstoreBundle, where: string) => Promise<Uint8Array>;

export const keyOpener = (key: KeyObject): BundleOpener => async (bundle, where) => {
  if (!bundle?.dsseEnvelope) throw new PithError('SIGNATURE_INVALID', `${where} holds no DSSE envelope`);
  return openEnvelope(bundle.dsseEnvelope, key, where);
};

/** The statement of a DSSE envelope that verifies with `key` and names `digest` among its subjects; a rejection otherwise. */
export function checkStatement(envelope: DsseEnvelope | undefined, key: KeyObject, digest: Digest, where: string): ReadStatement | Rejection {
  if (!envelope) return { code: 'SIGNATURE_INVALID', reason: `${where} holds no DSSE envelope` };
  let payload: Uint8Array;
  try {
    payload = openEnvelope(envelope, key, where);
  } catch (e) {
    if (e instanceof PithError) return { code: 'SIGNATURE_INVALID', reason: e.message };
    throw e;
  }
  return statementAbout(payload, digest, where);
}

/** The in-toto statement in a verified `payload`, when it names `digest` among its subjects; a rejection otherwise. */
function statementAbout(payload: Uint8Array, digest: Digest, where: string): ReadStatement | Rejection {
  let statement: ReadStatement;
  try {
    statement = JSON.parse(new TextDecoder().decode(payload)) as ReadStatement;
  } catch (e) {
    return { code: 'SIGNATURE_INVALID', reason: `the payload of ${where} is not JSON: ${(e as Error).message}` };
  }
  if (statement === null || typeof statement !== 'object' || typeof statement._type !== 'string' || !Array.isArray(statement.subject)) {
    return { code: 'SIGNATURE_INVALID', reason: `expected ${where} to sign an in-toto statement (_type, subject, predicateType), found another shape` };
  }
  const subjects = statement.subject.map((s) => s?.digest?.sha256);
  if (!subjects.includes(digestHex(digest))) return { code: 'SIGNATURE_WRONG_IMAGE', reason: `${where} signs sha256:${subjects.join(', sha256:')}, not ${digest}` };
  return statement;
}

/** The statement of the bundle referrer `descriptor` of `digest`, opened by `open` and about `digest`; a rejection otherwise. */
export async function checkBundle(ref: Reference, descriptor: Descriptor, digest: Digest, open: BundleOpener, options: RegistryOptions): Promise<ReadStatement | Rejection> {
  const where = `the bundle ${descriptor.digest} in ${ref.domain}/${ref.path}`;
  let blobs: Array<{ mediaType: string; bytes: Uint8Array }>;
  try {
    blobs = await readArtifact(ref, descriptor, digest, options);
  } catch (e) {
    if (e instanceof PithError && e.code === 'REGISTRY_BAD_RESPONSE') return { code: 'SIGNATURE_WRONG_IMAGE', reason: e.message };
    throw e;
  }
  const blob = blobs.find((b) => b.mediaType === BUNDLE_MEDIA_TYPE);
  let bundle: SigstoreBundle;
  try {
    bundle = JSON.parse(new TextDecoder().decode(blob?.bytes ?? new Uint8Array())) as SigstoreBundle;
  } catch (e) {
    return { code: 'SIGNATURE_INVALID', reason: `${where} holds no bundle as JSON: ${(e as Error).message}` };
  }
  let payload: Uint8Array;
  try {
    payload = await open(bundle, where);
  } catch (e) {
    if (e instanceof PithError) return { code: e.code, reason: e.message };
    throw e;
  }
  return statementAbout(payload, digest, where);
}

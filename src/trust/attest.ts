/**
 * Attestations: signed in-toto statements about an image in a registry, so that a policy (policy-controller,
 * Kyverno, `cosign verify-attestation`, `pith verify --lock`) can ask how a digest was made and what it holds.
 *
 * - SLSA v1 provenance (https://slsa.dev/spec/v1.0/provenance) in an in-toto Statement v1
 *   (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md), its build type pith's own
 *   (PITH_BUILD_TYPE, described at `provenanceStatement`): what `pith build` turned into the image — the spec, the
 *   lock, every verified InRelease and every locked `.deb` — made from the lock alone, so anyone holding the lock
 *   can recompute the dependencies and compare (`verifyAttestations(…, { lock })`).
 * - The SPDX and CycloneDX SBOMs pith makes, as statements with the predicate types cosign's `--type spdxjson` /
 *   `--type cyclonedx` and Syft's `syft attest` use (cosign cmd/cosign/cli/options/predicate.go → in-toto-golang
 *   in_toto/attestations.go PredicateSPDX, PredicateCycloneDX), the document itself as the predicate.
 *
 * Each statement is signed once as a DSSE envelope and written in both of cosign's forms, appended to what is there:
 * - a Sigstore bundle referrer annotated `dev.sigstore.bundle.content: dsse-envelope` and
 *   `dev.sigstore.bundle.predicateType` (cosign pkg/oci/remote/write.go WriteAttestationNewBundleFormat);
 * - the `sha256-<hex>.att` tag (cosign pkg/oci/remote/options.go AttestationTagSuffix): one layer per attestation,
 *   media type `application/vnd.dsse.envelope.v1+json` (cosign pkg/types DssePayloadType) holding the envelope,
 *   annotated `predicateType` and an empty `dev.cosignproject.cosign/signature` (cosign
 *   cmd/cosign/cli/attest/attest.go and pkg/oci/static NewAttestation: the signature is inside the envelope).
 */
import { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { PackageURL } from 'packageurl-js';
import { sha256Hex } from '../cache/store.ts';
import { PithError } from '../errors.ts';
import { debUrl } from '../fetch/debs.ts';
import { lockPathFor, readLock, type LockedPackage, type LockFile } from '../lock/lock.ts';
import { describe, digestHex, type Digest, type Platform } from '../oci/digest.ts';
import { isImageIndex, platformForDebianArch, type Image, type ImageIndex } from '../oci/image.ts';
import { formatReference, manifestReference, parseReference, type Reference } from '../oci/reference.ts';
import { repositoryScope } from '../registry/auth.ts';
import { RegistryClient, type RegistryOptions } from '../registry/client.ts';
import { listReferrers, type AttachResult } from '../registry/referrers.ts';
import type { SbomFormat } from '../sbom/formats.ts';
import { debPurl, imageInventory, TITLE } from '../sbom/inventory.ts';
import { SBOM_FORMATS, sbomFor } from '../sbom/sbom.ts';
import { attachBundles, BUNDLE_MEDIA_TYPE, dsseBundle, type SigstoreBundle } from './bundle.ts';
import {
  bundleAnnotations, checkBundle, checkStatement, failureCode, keyOpener, COSIGN_SIGN_PREDICATE_TYPE, COSIGN_SIGNATURE_ANNOTATION, cosignIdentity, ecdsaSigning, ecdsaVerifying,
  IN_TOTO_STATEMENT_V1, isIndex, parseManifest, readTagLayers, writeTagLayers, type ReadStatement, type Rejection,
} from './cosign.ts';
import { IN_TOTO_PAYLOAD_TYPE, keyFingerprint, signEnvelope, type DsseEnvelope } from './dsse.ts';
import { keylessOpener, signKeyless, type KeylessPolicy, type KeylessSignOptions } from './keyless.ts';
import { loadSigningKey, loadVerificationKey, type SigningKey, type VerificationKey } from './keys.ts';
import { PITH_VERSION } from '../version.ts';

export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const SPDX_PREDICATE_TYPE = 'https://spdx.dev/Document';
export const CYCLONEDX_PREDICATE_TYPE = 'https://cyclonedx.org/bom';
export const SBOM_PREDICATE_TYPES: Record<SbomFormat, string> = { spdx: SPDX_PREDICATE_TYPE, cyclonedx: CYCLONEDX_PREDICATE_TYPE };
/** cosign pkg/types DssePayloadType: the media type of an `.att` layer (a DSSE envelope as JSON). */
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
/**
 * pith's SLSA build type. pith has no web site to name it by, so it is a URN (SLSA's TypeURI is any RFC 3986 URI);
 * `provenanceStatement` documents what its parameters mean. A change to their meaning is a new version.
 */
export const PITH_BUILD_TYPE = 'urn:pith:build-type:v1';
/** The builder id when the caller names none: pith run by hand, trusted as far as whoever ran it is. */
export const DEFAULT_BUILDER_ID = 'urn:pith:builder:local';
/** The media type the provenance gives the lock among its resolved dependencies. */
export const LOCK_MEDIA_TYPE = 'application/vnd.pith.lock.v1+json';

/** in-toto's ResourceDescriptor (spec/v1/resource_descriptor.md), as far as pith writes it. */
export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  downloadLocation?: string;
  mediaType?: string;
  annotations?: Record<string, string>;
}

export interface Statement<P = unknown> {
  _type: typeof IN_TOTO_STATEMENT_V1;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate: P;
}

/** SLSA v1 provenance's predicate, with pith's parameters. */
export interface SlsaProvenance {
  buildDefinition: {
    buildType: typeof PITH_BUILD_TYPE;
    externalParameters: { spec: { path: string; digest: { sha256: string } } };
    internalParameters: { lockVersion: number; specInputsDigest: string; architectures: string[] };
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version: Record<string, string> };
    metadata: { startedOn: string; finishedOn: string };
  };
}

/** The locked packages of `architectures` (base-files included once), in the lock's order. */
function lockedDebs(lock: LockFile, architectures: readonly string[]): LockedPackage[] {
  const out: LockedPackage[] = [];
  const seen = new Set<string>();
  for (const arch of architectures) {
    const locked = lock.architectures[arch];
    for (const p of [...(locked?.packages ?? []), ...(locked?.baseFiles ? [locked.baseFiles] : [])]) {
      if (seen.has(p.sha256)) continue;
      seen.add(p.sha256);
      out.push(p);
    }
  }
  return out;
}

/**
 * Everything the build consumed, from the lock: the lock itself (by its bytes' digest), each suite's verified
 * InRelease (the lock records its digest), and each `.deb` — named by its purl (the form the SBOMs use, so a
 * package can be matched across documents), fetched from the URL the lock gives, with its sha256 and suite.
 */
export function resolvedDependencies(lock: LockFile, lockFile: { name: string; bytes: Uint8Array }, architectures: readonly string[]): ResourceDescriptor[] {
  const deps: ResourceDescriptor[] = [{ name: lockFile.name, digest: { sha256: sha256Hex(lockFile.bytes) }, mediaType: LOCK_MEDIA_TYPE }];
  for (const s of lock.sources) {
    deps.push({ uri: `${s.uri}/dists/${s.suite}/InRelease`, digest: { sha256: s.inRelease.replace(/^sha256:/, '') }, annotations: { suite: s.suite, signer: s.signer } });
  }
  for (const p of lockedDebs(lock, architectures)) {
    deps.push({ name: p.name, uri: debPurl(p, { id: 'debian' }), digest: { sha256: p.sha256 }, downloadLocation: debUrl(lock, p), annotations: { suite: p.suite } });
  }
  return deps;
}

export interface ProvenanceInputs {
  /** The repository (as cosign names it) and every digest the build produced: the index first, then each image. */
  subject: { name: string; digests: readonly Digest[] };
  /** The spec as the build was given it: its path (as the caller wrote it) and bytes. */
  spec: { path: string; bytes: Uint8Array };
  lock: { file: LockFile; name: string; bytes: Uint8Array };
  /** The lock's architectures the image holds. */
  architectures: readonly string[];
  builderId?: string;
  startedOn: Date;
  finishedOn: Date;
}

/**
 * The SLSA v1 provenance statement of a pith build. Build type `urn:pith:build-type:v1`:
 * - externalParameters.spec: the spec file's path and sha256 — the one input a user controls;
 * - internalParameters: the lock's version, the digest of the spec's resolution inputs the lock was made from
 *   (`spec.digest` in the lock) and the architectures built;
 * - resolvedDependencies: the lock (media type `application/vnd.pith.lock.v1+json`, sha256 of its bytes), each
 *   InRelease (uri `<source>/dists/<suite>/InRelease`), each `.deb` (uri `pkg:deb/debian/NAME@VERSION?arch=…`,
 *   downloadLocation the archive URL, annotation `suite`);
 * - runDetails: builder id (DEFAULT_BUILDER_ID unless given), `version: {pith}`, start and finish times — outside
 *   the image's reproducible bytes: two builds of one lock give one image and two provenances.
 */
export function provenanceStatement(inputs: ProvenanceInputs): Statement<SlsaProvenance> {
  const { file, name, bytes } = inputs.lock;
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: inputs.subject.digests.map((d) => ({ name: inputs.subject.name, digest: { sha256: digestHex(d) } })),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: PITH_BUILD_TYPE,
        externalParameters: { spec: { path: inputs.spec.path, digest: { sha256: sha256Hex(inputs.spec.bytes) } } },
        internalParameters: { lockVersion: file.lockVersion, specInputsDigest: file.spec.digest, architectures: [...inputs.architectures] },
        resolvedDependencies: resolvedDependencies(file, { name, bytes }, inputs.architectures),
      },
      runDetails: {
        builder: { id: inputs.builderId ?? DEFAULT_BUILDER_ID, version: { pith: PITH_VERSION } },
        metadata: { startedOn: inputs.startedOn.toISOString(), finishedOn: inputs.finishedOn.toISOString() },
      },
    },
  };
}

/** An SBOM document (SPDX or CycloneDX JSON, as sbom/ writes it) as the predicate of a statement about one image. */
export function sbomStatement(format: SbomFormat, document: string, subject: { name: string; digest: Digest }): Statement {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: subject.name, digest: { sha256: digestHex(subject.digest) } }],
    predicateType: SBOM_PREDICATE_TYPES[format],
    predicate: JSON.parse(document) as unknown,
  };
}

/** The tag cosign stores the attestations of `digest` under. */
export function attestationTag(digest: Digest): string {
  return `sha256-${digestHex(digest)}.att`;
}

/**
 * An envelope as cosign writes it into an `.att` layer (cmd/cosign/cli/signcommon ExtractComponentsFromProtoBundle):
 * Go's encoding/json of protobuf-specs' gen/pb-go/dsse/envelope.pb.go — payload, payloadType, signatures in field
 * order, each signature `sig` then `keyid`, empty fields omitted.
 */
export function attestationLayerBytes(envelope: DsseEnvelope): Uint8Array {
  const signatures = envelope.signatures.map((s) => (s.keyid ? { sig: s.sig, keyid: s.keyid } : { sig: s.sig }));
  return new TextEncoder().encode(JSON.stringify({ payload: envelope.payload, payloadType: envelope.payloadType, signatures }));
}

export interface AttestOptions extends RegistryOptions {
  /** The spec the image was built from. */
  spec: string;
  /** Its lock (default: `<spec name>.lock` beside it). */
  lock?: string;
  /** The image as built: SBOMs are made from it in memory; without it they are read (or made) from the registry. */
  image?: Image | ImageIndex;
  /** SBOM attestations to add (default both formats; `[]` for provenance alone). */
  sbom?: readonly SbomFormat[];
  builderId?: string;
  /** When the build started and finished (default: now for both). */
  startedOn?: Date;
  finishedOn?: Date;
}

export interface AttachedAttestation {
  predicateType: string;
  /** The digest it is attached to (the provenance to the digest the reference names; an SBOM to its platform image). */
  subject: Digest;
  /** The Sigstore bundle referrer. */
  bundle: AttachResult;
  /** The `.att` tag it was appended to. */
  /** The `.att` tag it was appended to (keyed attestations; a keyless one lives in its bundle alone). */
  tag?: string;
}

export interface AttestReport {
  reference: string;
  digest: Digest;
  attestations: AttachedAttestation[];
}

interface ImageDigests {
  top: Digest;
  /** Each platform image's digest and platform (the top one alone for a single image). */
  images: Array<{ digest: Digest; platform?: Platform }>;
}

/** The digest `ref` names and its platform images, with their platforms (from the index, or the image's config). */
async function imageDigests(client: RegistryClient, ref: Reference, scopes: readonly string[]): Promise<ImageDigests> {
  const top = await client.getManifest(ref.path, manifestReference(ref), scopes);
  const m = parseManifest(top.bytes, `${ref.domain}/${ref.path}@${top.digest}`);
  if (isIndex(top.mediaType || m.mediaType)) return { top: top.digest, images: (m.manifests ?? []).map((d) => ({ digest: d.digest, platform: d.platform })) };
  if (!m.config) return { top: top.digest, images: [{ digest: top.digest }] };
  const config = JSON.parse(new TextDecoder().decode(await client.getBlob(ref.path, m.config, scopes))) as Partial<Platform>;
  return { top: top.digest, images: [{ digest: top.digest, platform: { architecture: config.architecture ?? '', os: config.os ?? '', ...(config.variant ? { variant: config.variant } : {}) } }] };
}

function imageDigestsOf(x: Image | ImageIndex): ImageDigests {
  return { top: x.digest, images: (isImageIndex(x) ? x.images : [x]).map((i) => ({ digest: i.digest, platform: i.platform })) };
}

/** The lock's architectures whose platform the image holds (all of them when the image does not say). */
function builtArchitectures(lock: LockFile, platforms: ReadonlyArray<Platform | undefined>): string[] {
  const all = Object.keys(lock.architectures);
  if (platforms.some((p) => p === undefined)) return all;
  const same = (a: Platform, b: Platform) => a.architecture === b.architecture && a.os === b.os && (a.variant ?? '') === (b.variant ?? '');
  return all.filter((arch) => platforms.some((p) => same(platformForDebianArch(arch), p!)));
}

function readSpecBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new PithError('SPEC_NOT_FOUND', `${path}: cannot read the spec to attest its build (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * Signs and attaches the provenance of the image at `reference` (already pushed) and its SBOMs, in both of cosign's
 * forms. The statements are made from the spec, the lock and the image; the registry is touched only to read the
 * image's digests (and, without `image`, its SBOMs) and to write.
 */
export async function attestImage(reference: string | Reference, signer: string | SigningKey | { keyless: KeylessSignOptions }, options: AttestOptions): Promise<AttestReport> {
  const signStatement = await statementSigner(signer);
  const finishedOn = options.finishedOn ?? new Date();
  const specBytes = readSpecBytes(options.spec);
  const lockPath = options.lock ?? lockPathFor(options.spec);
  const lockFile = readLock(lockPath);
  const lockBytes = readFileSync(lockPath);
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  const { client, ref } = await RegistryClient.primary(logical, options, 'attest');
  const scopes = [repositoryScope(ref.path, ['pull', 'push'])];
  const digests = options.image ? imageDigestsOf(options.image) : await imageDigests(client, ref, scopes);
  if (options.image && (await client.manifestDigest(ref.path, manifestReference(ref), scopes)) !== digests.top) {
    throw new PithError('SIGNATURE_WRONG_IMAGE', `expected ${formatReference(logical)} to be the image given to attest (${digests.top}), found another`);
  }
  const name = cosignIdentity(logical);

  const statements: Array<{ at: Digest; statement: Statement }> = [];
  const subjectDigests = digests.images.length === 1 && digests.images[0]!.digest === digests.top ? [digests.top] : [digests.top, ...digests.images.map((i) => i.digest)];
  statements.push({
    at: digests.top,
    statement: provenanceStatement({
      subject: { name, digests: subjectDigests },
      spec: { path: options.spec, bytes: specBytes },
      lock: { file: lockFile, name: basename(lockPath), bytes: lockBytes },
      architectures: builtArchitectures(lockFile, digests.images.map((i) => i.platform)),
      builderId: options.builderId,
      startedOn: options.startedOn ?? finishedOn,
      finishedOn,
    }),
  });
  for (const { digest, format, document } of await sbomDocuments({ ...logical, tag: undefined, digest: digests.top }, options, options.sbom ?? ['spdx', 'cyclonedx'])) {
    statements.push({ at: digest, statement: sbomStatement(format, document, { name, digest }) });
  }

  const annotationsAt = (type: string) => bundleAnnotations(type, finishedOn);
  const attestations: AttachedAttestation[] = [];
  for (const at of [...new Set(statements.map((s) => s.at))]) {
    const signed = await Promise.all(statements.filter((s) => s.at === at).map(async ({ statement }) => ({
      predicateType: statement.predicateType,
      ...(await signStatement(new TextEncoder().encode(JSON.stringify(statement)))),
    })));
    const enveloped = signed.flatMap((s) => (s.envelope ? [{ predicateType: s.predicateType, envelope: s.envelope }] : []));
    // The tag and the referrers are separate read-modify-writes, so they run at once.
    const [tag, bundles] = await Promise.all([
      enveloped.length ? appendAttestations(client, ref.path, at, enveloped, scopes) : undefined,
      attachBundles({ ...logical, tag: undefined, digest: at }, at, signed.map((s) => ({ bundle: s.bundle, annotations: annotationsAt(s.predicateType) })), options),
    ]);
    signed.forEach((s, i) => attestations.push({ predicateType: s.predicateType, subject: at, bundle: bundles[i]!, ...(s.envelope && tag ? { tag } : {}) }));
  }
  return { reference: formatReference(logical), digest: digests.top, attestations };
}

/**
 * Signs a statement: with a key, as a DSSE envelope (for the `.att` tag) and the bundle holding it; keylessly, as a
 * bundle with the Fulcio certificate and Rekor entry (keyless.ts) — cosign's `--new-bundle-format` attestations,
 * which live in the referrer alone (the `.att` form would need cosign's older certificate and SET annotations).
 */
async function statementSigner(signer: string | SigningKey | { keyless: KeylessSignOptions }): Promise<(payload: Uint8Array) => Promise<{ envelope?: DsseEnvelope; bundle: SigstoreBundle }>> {
  if (typeof signer === 'object' && 'keyless' in signer) return async (payload) => ({ bundle: await signKeyless(payload, signer.keyless) });
  const { privateKey, publicKey } = ecdsaSigning(typeof signer === 'string' ? await loadSigningKey(signer) : signer);
  return async (payload) => {
    const envelope = signEnvelope(IN_TOTO_PAYLOAD_TYPE, payload, privateKey);
    return { envelope, bundle: dsseBundle(envelope, publicKey) };
  };
}

type SbomOf = { digest: Digest; format: SbomFormat; document: string };

/** Each platform image's SBOMs: made from the image in memory when given (one inventory for all formats), else as `pith sbom` finds or makes them. */
async function sbomDocuments(ref: Reference, options: AttestOptions, formats: readonly SbomFormat[]): Promise<SbomOf[]> {
  const out: SbomOf[] = [];
  const x = options.image;
  if (!x) {
    for (const format of formats) {
      for (const d of await sbomFor(`docker://${formatReference(ref)}`, { format, registry: options })) out.push({ digest: d.digest as Digest, format, document: d.document });
    }
    return out;
  }
  if (formats.length === 0) return out;
  for (const image of isImageIndex(x) ? x.images : [x]) {
    const title = image.manifest.annotations?.[TITLE] ?? (isImageIndex(x) ? x.index.annotations?.[TITLE] : undefined);
    const inv = await imageInventory(image, { name: title ?? formatReference(ref) });
    for (const format of formats) out.push({ digest: image.digest, format, document: SBOM_FORMATS[format].write(inv) });
  }
  return out.sort((a, b) => formats.indexOf(a.format) - formats.indexOf(b.format));
}

/** Appends one `.att` layer per envelope to the attestations of `digest`, keeping those there (as cosign attest does). */
async function appendAttestations(client: RegistryClient, repository: string, digest: Digest, signed: ReadonlyArray<{ predicateType: string; envelope: DsseEnvelope }>, scopes: readonly string[]): Promise<string> {
  const tag = attestationTag(digest);
  const existing = await readTagLayers(client, repository, tag, scopes);
  const payloads = signed.map((s) => attestationLayerBytes(s.envelope));
  const layers = signed.map((s, i) => describe(DSSE_ENVELOPE_MEDIA_TYPE, payloads[i]!, { annotations: { [COSIGN_SIGNATURE_ANNOTATION]: '', predicateType: s.predicateType } }));
  await writeTagLayers(client, repository, tag, [...existing, ...layers], payloads, scopes);
  return tag;
}

export interface VerifiedAttestation {
  form: 'tag' | 'bundle';
  /** The image digest the attestation is attached to and about. */
  digest: Digest;
  /** The `.att` layer's digest, or the referrer's manifest digest. */
  source: Digest;
  predicateType: string;
  statement: ReadStatement;
}

export interface RejectedAttestation extends Rejection {
  form: 'tag' | 'bundle';
  digest: Digest;
  source: Digest;
}

export interface AttestationReport {
  reference: string;
  digest: Digest;
  /** SHA-256 of the public key's SPKI DER (verified with a key). */
  key?: string;
  verified: VerifiedAttestation[];
  /** Attestations found that did not verify (others did): another key, tampered, or about another image. */
  rejected: RejectedAttestation[];
  /** With `lock`: the lock file and the provenance that matches it. */
  lock?: { path: string; sha256: string; provenance: Digest };
}

export interface VerifyAttestationsOptions extends RegistryOptions {
  /** A lock file the provenance must have been built from: its digest and every resolved dependency. */
  lock?: string;
  /** Predicate types that must each have an attestation that verifies (default: the SLSA provenance). */
  require?: readonly string[];
}

/**
 * Checks the attestations of the image at `reference` (and, for an index, of each platform image) in both forms:
 * each DSSE envelope must verify with `publicKey` and its statement name the digest it is attached to. Succeeds
 * when every required predicate type has one that does — as `cosign verify-attestation` accepts any good one —
 * reporting the others; with `lock`, a verified provenance must have been built from exactly that lock.
 */
export async function verifyAttestations(reference: string | Reference, verifier: string | KeyObject | VerificationKey | { keyless: KeylessPolicy }, options: VerifyAttestationsOptions = {}): Promise<AttestationReport> {
  const keyless = typeof verifier === 'object' && 'keyless' in verifier ? verifier.keyless : undefined;
  const key = keyless ? undefined : ecdsaVerifying(typeof verifier === 'string' ? await loadVerificationKey(verifier) : (verifier as KeyObject | VerificationKey));
  const open = key ? keyOpener(key) : keylessOpener(keyless!);
  const signer = key ? `key ${keyFingerprint(key)}` : `a certificate for ${String(keyless!.certificateIdentity)} from ${keyless!.certificateOidcIssuer}`;
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  const { client, ref } = await RegistryClient.primary(logical, options, 'verify');
  const scopes = [repositoryScope(ref.path, ['pull'])];
  const digests = await imageDigests(client, ref, scopes);
  const verified: VerifiedAttestation[] = [];
  const rejected: RejectedAttestation[] = [];
  const where = `${cosignIdentity(logical)}@${digests.top}`;

  for (const digest of [...new Set([digests.top, ...digests.images.map((i) => i.digest)])]) {
    const tag = attestationTag(digest);
    // The `.att` form carries no certificate: only a key checks it (keyless attestations are bundles).
    for (const layer of key ? await readTagLayers(client, ref.path, tag, scopes) : []) {
      if (layer.mediaType !== DSSE_ENVELOPE_MEDIA_TYPE) continue;
      const at = `${ref.path}:${tag} layer ${layer.digest}`;
      let envelope: DsseEnvelope | undefined;
      try {
        envelope = JSON.parse(new TextDecoder().decode(await client.getBlob(ref.path, layer, scopes))) as DsseEnvelope;
      } catch (e) {
        if (e instanceof PithError) throw e;
        rejected.push({ form: 'tag', digest, source: layer.digest, code: 'SIGNATURE_INVALID', reason: `${at} is not JSON: ${(e as Error).message}` });
        continue;
      }
      record('tag', digest, layer.digest, checkStatement(envelope, key!, digest, at));
    }
    const { referrers } = await listReferrers({ ...logical, tag: undefined, digest }, { ...options, artifactType: BUNDLE_MEDIA_TYPE });
    for (const d of referrers) {
      const type = d.annotations?.['dev.sigstore.bundle.predicateType'];
      if (type === undefined || type === COSIGN_SIGN_PREDICATE_TYPE) continue; // an image signature (cosign.ts), not an attestation
      record('bundle', digest, d.digest, await checkBundle(logical, d, digest, open, options));
    }
  }

  function record(form: 'tag' | 'bundle', digest: Digest, source: Digest, outcome: ReadStatement | Rejection): void {
    if ('_type' in outcome) verified.push({ form, digest, source, predicateType: String(outcome.predicateType), statement: outcome });
    else rejected.push({ form, digest, source, ...outcome });
  }

  const reasons = () => rejected.map((r) => r.reason).join('; ');
  for (const type of options.require ?? [SLSA_PROVENANCE_V1]) {
    if (verified.some((v) => v.predicateType === type)) continue;
    if (rejected.length > 0) {
      const message = `no ${type} attestation of ${where} verifies with ${signer}: ${reasons()}`;
      throw new PithError(failureCode(rejected), message);
    }
    const found = [...new Set(verified.map((v) => v.predicateType))];
    throw new PithError('ATTESTATION_NOT_FOUND', `expected a ${type} attestation of ${where} (tag ${attestationTag(digests.top)} or a Sigstore bundle referrer), found ${found.length ? found.join(', ') : 'none'}`);
  }

  const report: AttestationReport = { reference: formatReference(logical), digest: digests.top, ...(key ? { key: keyFingerprint(key) } : {}), verified, rejected };
  if (options.lock !== undefined) report.lock = checkLock(options.lock, verified.filter((v) => v.predicateType === SLSA_PROVENANCE_V1), where);
  return report;
}

function checkLock(path: string, provenances: readonly VerifiedAttestation[], where: string): NonNullable<AttestationReport['lock']> {
  const file = readLock(path);
  const bytes = readFileSync(path);
  if (provenances.length === 0) throw new PithError('ATTESTATION_NOT_FOUND', `expected a ${SLSA_PROVENANCE_V1} attestation of ${where} to compare with ${path}, found none`);
  let first: string[] | undefined;
  for (const p of provenances) {
    const differences = provenanceLockDifferences(p.statement.predicate, file, { name: basename(path), bytes });
    if (differences.length === 0) return { path, sha256: sha256Hex(bytes), provenance: p.source };
    first ??= differences;
  }
  const shown = first!.slice(0, 8).join('; ') + (first!.length > 8 ? `; and ${first!.length - 8} more` : '');
  throw new PithError('ATTESTATION_LOCK_MISMATCH', `the provenance of ${where} was not built from ${path}: ${shown}`, { details: { lock: path, differences: first } });
}

/** A package's key and version from a `.deb` dependency's purl. */
function debOf(d: ResourceDescriptor): { key: string; label: string; version: string } | undefined {
  if (!d.uri?.startsWith('pkg:deb/')) return undefined;
  try {
    const purl = PackageURL.fromString(d.uri);
    const arch = purl.qualifiers?.arch ?? 'any';
    return { key: `${purl.name}:${arch}`, label: `${purl.name} (${arch})`, version: purl.version ?? '?' };
  } catch {
    return undefined;
  }
}

/**
 * How the provenance `predicate` differs from what `lock` (with these bytes) gives: the lock's digest, each
 * InRelease, each `.deb` missing on one side or of another version or sha256, for the architectures the provenance
 * says it built. Empty when they are the same.
 */
export function provenanceLockDifferences(predicate: unknown, lock: LockFile, lockFile: { name: string; bytes: Uint8Array }): string[] {
  const def = (predicate as Partial<SlsaProvenance> | undefined)?.buildDefinition;
  const got = def?.resolvedDependencies;
  if (!Array.isArray(got)) return ['the provenance lists no resolvedDependencies'];
  const arches = def?.internalParameters?.architectures;
  const want = resolvedDependencies(lock, lockFile, Array.isArray(arches) ? arches : Object.keys(lock.architectures));
  const out: string[] = [];
  const sha = (d: ResourceDescriptor | undefined) => d?.digest?.sha256 ?? 'none';

  const lockOf = (ds: readonly ResourceDescriptor[]) => ds.find((d) => d.mediaType === LOCK_MEDIA_TYPE);
  if (sha(lockOf(got)) !== sha(lockOf(want))) out.push(`the provenance's lock has sha256 ${sha(lockOf(got))}, ${lockFile.name} has ${sha(lockOf(want))}`);

  const releases = (ds: readonly ResourceDescriptor[]) => new Map(ds.filter((d) => d.uri?.endsWith('/InRelease')).map((d) => [d.uri!, sha(d)]));
  const [gotReleases, wantReleases] = [releases(got), releases(want)];
  for (const uri of new Set([...gotReleases.keys(), ...wantReleases.keys()])) {
    if (gotReleases.get(uri) !== wantReleases.get(uri)) out.push(`${uri}: the provenance has sha256 ${gotReleases.get(uri) ?? 'none'}, the lock ${wantReleases.get(uri) ?? 'none'}`);
  }

  const debs = (ds: readonly ResourceDescriptor[]) => {
    const m = new Map<string, { label: string; version: string; sha256: string }>();
    for (const d of ds) {
      const deb = debOf(d);
      if (deb) m.set(deb.key, { label: deb.label, version: deb.version, sha256: sha(d) });
    }
    return m;
  };
  const [gotDebs, wantDebs] = [debs(got), debs(want)];
  const show = (p: { version: string; sha256: string } | undefined) => (p ? `${p.version} (sha256 ${p.sha256.slice(0, 12)}…)` : 'nothing');
  for (const k of [...new Set([...wantDebs.keys(), ...gotDebs.keys()])].sort()) {
    const [g, w] = [gotDebs.get(k), wantDebs.get(k)];
    if (g?.version === w?.version && g?.sha256 === w?.sha256) continue;
    out.push(`package ${(g ?? w)!.label}: the provenance has ${show(g)}, the lock has ${show(w)}`);
  }
  return out;
}

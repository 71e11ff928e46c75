/**
 * Keyless (Sigstore) signing and verification, with sigstore-js doing the cryptography and the protocol:
 *
 * - signing (`@sigstore/sign`): an OIDC identity token, an ephemeral ECDSA key, a short-lived certificate for that
 *   key from a Fulcio (`POST /api/v2/signingCert`) and a `dsse` entry in a Rekor (`POST /api/v1/log/entries`), all
 *   packed into a Sigstore bundle v0.3 (protobuf-specs sigstore_bundle.proto) with the certificate and the log
 *   entry (inclusion proof and signed entry timestamp). Image signatures are the statement cosign signs with
 *   `--new-bundle-format` (cosign.ts), attached as a referrer like the keyed bundle (bundle.ts).
 * - verifying (`@sigstore/verify`): the certificate chains to a CA of a trusted root (protobuf-specs
 *   sigstore_trustroot.proto `TrustedRoot` as JSON, the file `cosign verify --trusted-root` reads) at the time the
 *   log entry was integrated, carries a certificate-transparency SCT, the log entry's inclusion is proven with the
 *   root's Rekor key, and the certificate names the expected identity and OIDC issuer.
 *
 * pith knows no Sigstore instance: the Fulcio and Rekor URLs and the trusted root are always configured
 * (options, or PITH_FULCIO_URL, PITH_REKOR_URL, PITH_TRUSTED_ROOT), and a missing one is an error naming it.
 */
import { readFile } from 'node:fs/promises';
import { bundleFromJSON, bundleToJSON, type BundleWithDsseEnvelope, type SerializedBundle } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { CIContextProvider, DSSEBundleBuilder, FulcioSigner, InternalError, RekorWitness, type IdentityProvider } from '@sigstore/sign';
import { PolicyError, toSignedEntity, toTrustMaterial, VerificationError, Verifier, type TrustMaterial } from '@sigstore/verify';
import { PithError, type ErrorCode } from '../errors.ts';
import { digestHex, type Digest } from '../oci/digest.ts';
import { manifestReference, parseReference, type Reference } from '../oci/reference.ts';
import { repositoryScope } from '../registry/auth.ts';
import { RegistryClient, type RegistryOptions } from '../registry/client.ts';
import { listReferrers, readArtifact, type AttachResult } from '../registry/referrers.ts';
import { attachBundle, BUNDLE_MEDIA_TYPE, type SigstoreBundle } from './bundle.ts';
import { bundleAnnotations, COSIGN_SIGN_PREDICATE_TYPE, cosignSignStatement, failureCode, type BundleOpener } from './cosign.ts';
import { IN_TOTO_PAYLOAD_TYPE } from './dsse.ts';

/** The settings keyless signing and verification read when no option is given. */
export const KEYLESS_ENV = { fulcio: 'PITH_FULCIO_URL', rekor: 'PITH_REKOR_URL', trustedRoot: 'PITH_TRUSTED_ROOT', token: 'SIGSTORE_ID_TOKEN' } as const;

/** Fulcio's OID for the OIDC issuer (docs/oid-info.md in sigstore/fulcio), v2 (DER UTF8String) then v1 (raw). */
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';

export interface KeylessSignOptions {
  /** The Fulcio to ask for a certificate; else $PITH_FULCIO_URL. There is no default. */
  fulcioUrl?: string;
  /** The Rekor to log the signature in; else $PITH_REKOR_URL. There is no default. */
  rekorUrl?: string;
  /**
   * The OIDC identity token; else $SIGSTORE_ID_TOKEN, else the CI's ambient token (GitHub Actions'
   * ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN, Buildkite's agent) requested for the audience `sigstore`.
   */
  identityToken?: string;
  /** Where PITH_FULCIO_URL, PITH_REKOR_URL and SIGSTORE_ID_TOKEN are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds each Fulcio or Rekor request may take; default 30 s. */
  timeout?: number;
}

function serviceUrl(value: string | undefined, setting: string, what: string): string {
  if (!value) {
    throw new PithError('KEYLESS_NOT_CONFIGURED', `keyless signing needs the URL of a ${what}: set ${setting} (pith knows no Sigstore instance of its own), found it unset`);
  }
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`scheme ${url.protocol}`);
  } catch (e) {
    throw new PithError('KEYLESS_NOT_CONFIGURED', `expected ${setting} to be the http(s) URL of a ${what}, found ${JSON.stringify(value)} (${(e as Error).message})`);
  }
  return value.replace(/\/+$/, '');
}

/** Where the token comes from, for messages (never the token itself). */
function tokenProvider(options: KeylessSignOptions, env: NodeJS.ProcessEnv): { provider: IdentityProvider; source: string } {
  const token = options.identityToken ?? env[KEYLESS_ENV.token];
  if (token) return { provider: { getToken: async () => token }, source: options.identityToken ? 'the identityToken option' : KEYLESS_ENV.token };
  return { provider: new CIContextProvider('sigstore'), source: "the CI's ambient OIDC token" };
}

/** What a Fulcio or Rekor said, from sigstore-js's error and its cause (an HTTPError carries the status). */
function causeOf(e: InternalError): string {
  const cause = e.cause as { statusCode?: number; message?: string } | undefined;
  if (!cause) return e.message;
  return cause.statusCode ? `HTTP ${cause.statusCode}: ${cause.message}` : String(cause.message ?? cause);
}

/**
 * Signs `payload` (an in-toto statement unless `payloadType` says otherwise) keylessly: a DSSE envelope in a
 * Sigstore bundle v0.3 holding the Fulcio certificate and the Rekor entry, as JSON.
 */
export async function signKeyless(payload: Uint8Array, options: KeylessSignOptions & { payloadType?: string } = {}): Promise<SigstoreBundle> {
  const env = options.env ?? process.env;
  const fulcio = serviceUrl(options.fulcioUrl ?? env[KEYLESS_ENV.fulcio], options.fulcioUrl ? 'the fulcioUrl option' : KEYLESS_ENV.fulcio, 'Fulcio (certificate authority)');
  const rekor = serviceUrl(options.rekorUrl ?? env[KEYLESS_ENV.rekor], options.rekorUrl ? 'the rekorUrl option' : KEYLESS_ENV.rekor, 'Rekor (transparency log)');
  const { provider, source } = tokenProvider(options, env);
  const timeout = options.timeout ?? 30_000;
  const builder = new DSSEBundleBuilder({
    signer: new FulcioSigner({ identityProvider: provider, fulcioBaseURL: fulcio, timeout, retry: 2 }),
    witnesses: [new RekorWitness({ rekorBaseURL: rekor, entryType: 'dsse', timeout, retry: 2 })],
  });
  let bundle: BundleWithDsseEnvelope;
  try {
    bundle = await builder.create({ data: Buffer.from(payload), type: options.payloadType ?? IN_TOTO_PAYLOAD_TYPE });
  } catch (e) {
    if (!(e instanceof InternalError)) throw e;
    switch (e.code) {
      case 'IDENTITY_TOKEN_READ_ERROR':
        throw new PithError('OIDC_TOKEN_MISSING', `keyless signing needs an OIDC identity token: expected the identityToken option, ${KEYLESS_ENV.token}, or a CI job that may request one (GitHub Actions with id-token: write), found none (${causeOf(e)})`);
      case 'IDENTITY_TOKEN_PARSE_ERROR':
        throw new PithError('OIDC_TOKEN_INVALID', `expected the identity token from ${source} to be a JWT with a "sub" claim (or a verified "email"), found one that is not`);
      case 'CA_CREATE_SIGNING_CERTIFICATE_ERROR':
        throw new PithError('KEYLESS_SERVICE_FAILED', `the Fulcio at ${fulcio} gave no certificate for the token from ${source}: ${causeOf(e)}`);
      default:
        throw new PithError('KEYLESS_SERVICE_FAILED', `the Rekor at ${rekor} did not log the signature: ${causeOf(e)}`);
    }
  }
  return bundleToJSON(bundle) as unknown as SigstoreBundle;
}

/**
 * Signs the image `digest` keylessly as `cosign sign --new-bundle-format` does (the cosign sign statement, cosign.ts)
 * and attaches the bundle to it in the repository of `reference`, through the referrers API or the fallback tag.
 */
export async function attachKeylessSignature(reference: string | Reference, digest: Digest, options: KeylessSignOptions & RegistryOptions & { now?: Date } = {}): Promise<{ bundle: SigstoreBundle; attached: AttachResult }> {
  const bundle = await signKeyless(cosignSignStatement(digest), options);
  const attached = await attachBundle(reference, digest, bundle, bundleAnnotations(COSIGN_SIGN_PREDICATE_TYPE, options.now ?? new Date()), options);
  return { bundle, attached };
}

/** Trust material read from a trusted root, to verify many bundles with one read. */
export interface TrustedRootMaterial {
  readonly source: string;
  readonly material: TrustMaterial;
}

/** Reads a trusted root (sigstore_trustroot.proto `TrustedRoot` as JSON) from a file, or takes it parsed. */
export async function loadTrustedRoot(root: string | object): Promise<TrustedRootMaterial> {
  const source = typeof root === 'string' ? `the trusted root ${root}` : 'the trusted root given';
  let json: unknown = root;
  if (typeof root === 'string') {
    let text: string;
    try {
      text = await readFile(root, 'utf8');
    } catch (e) {
      throw new PithError('TRUSTED_ROOT_INVALID', `expected a Sigstore trusted root (JSON) at ${root}, found it unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new PithError('TRUSTED_ROOT_INVALID', `expected ${root} to be a Sigstore trusted root as JSON, found: ${(e as Error).message}`);
    }
  }
  try {
    const parsed = TrustedRoot.fromJSON(json);
    if (parsed.certificateAuthorities.length === 0 || parsed.tlogs.length === 0) throw new Error('it lists no certificateAuthorities or no tlogs');
    return { source, material: toTrustMaterial(parsed) };
  } catch (e) {
    throw new PithError('TRUSTED_ROOT_INVALID', `expected ${typeof root === 'string' ? root : 'the trusted root given'} to be a Sigstore trusted root (mediaType application/vnd.dev.sigstore.trustedroot+json, with certificateAuthorities and tlogs), found: ${(e as Error).message}`);
  }
}

export interface KeylessPolicy {
  /** The certificate's subject alternative name: the signer's email or URI (exact), or a pattern it must match. */
  certificateIdentity: string | RegExp;
  /** The OIDC issuer Fulcio recorded in the certificate (exact). */
  certificateOidcIssuer: string;
  /** The trusted root: a file, its parsed JSON, or what `loadTrustedRoot` read; else the file $PITH_TRUSTED_ROOT. */
  trustedRoot?: string | object | TrustedRootMaterial;
  /** Where PITH_TRUSTED_ROOT is read; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface KeylessVerification {
  /** The certificate's subject alternative name and OIDC issuer. */
  identity: string;
  issuer: string;
  payloadType: string;
  payload: Uint8Array;
  /** The transparency-log entries whose inclusion was proven. */
  tlog: Array<{ logIndex: string; integratedTime: Date }>;
}

const isMaterial = (root: unknown): root is TrustedRootMaterial => typeof root === 'object' && root !== null && 'material' in root && 'source' in root;

/** The trusted root a policy names (read from its file, or $PITH_TRUSTED_ROOT), or the material already read. */
export async function trustedRootOf(policy: KeylessPolicy): Promise<TrustedRootMaterial> {
  if (isMaterial(policy.trustedRoot)) return policy.trustedRoot;
  const root = policy.trustedRoot ?? (policy.env ?? process.env)[KEYLESS_ENV.trustedRoot];
  if (!root) throw new PithError('KEYLESS_NOT_CONFIGURED', `keyless verification needs a Sigstore trusted root: set ${KEYLESS_ENV.trustedRoot} (a trusted_root.json file; pith trusts no Sigstore instance of its own), found it unset`);
  return loadTrustedRoot(root);
}

interface BundleJson {
  verificationMaterial?: { certificate?: { rawBytes?: string }; x509CertificateChain?: { certificates?: Array<{ rawBytes?: string }> }; tlogEntries?: Array<{ inclusionProof?: unknown }> };
}

/** What the certificate says, for messages: identity, issuer, and the validity window. */
function describeCertificate(rawBytes: string | undefined): { identity: string; issuer: string; validity: string } {
  try {
    const cert = X509Certificate.parse(Buffer.from(rawBytes ?? '', 'base64'));
    const v2 = cert.extension(OID_ISSUER_V2);
    const issuer = v2 ? v2.valueObj.subs?.[0]?.value.toString('utf8') : cert.extension(OID_ISSUER_V1)?.value.toString('utf8');
    return { identity: cert.subjectAltName ?? '(none)', issuer: issuer ?? '(none)', validity: `valid ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}` };
  } catch {
    return { identity: '(unreadable)', issuer: '(unreadable)', validity: 'unreadable' };
  }
}

/** The named error for a failure `@sigstore/verify` reports by its code. */
function verificationFailure(code: string, message: string): PithError {
  switch (code) {
    case 'CERTIFICATE_ERROR':
      return new PithError('CERTIFICATE_INVALID', message);
    case 'TLOG_MISSING_INCLUSION_ERROR':
    case 'TLOG_ERROR':
    case 'TIMESTAMP_ERROR':
      return new PithError('TLOG_PROOF_MISSING', message);
    case 'TLOG_INCLUSION_PROOF_ERROR':
    case 'TLOG_INCLUSION_PROMISE_ERROR':
      return new PithError('TLOG_PROOF_INVALID', message);
    default:
      // SIGNATURE_ERROR, and TLOG_BODY_ERROR: the log entry records the payload's hash and the signature, so a
      // changed envelope no longer matches it.
      return new PithError('SIGNATURE_INVALID', message);
  }
}

/**
 * Verifies a keyless bundle (JSON) against a policy with `@sigstore/verify`, requiring a transparency-log entry with
 * its inclusion proof. Throws CERTIFICATE_IDENTITY_MISMATCH, CERTIFICATE_INVALID (untrusted or expired chain),
 * TLOG_PROOF_MISSING, TLOG_PROOF_INVALID or SIGNATURE_INVALID; `where` names the bundle in messages.
 */
export async function verifyKeyless(bundle: unknown, policy: KeylessPolicy, where = 'the bundle'): Promise<KeylessVerification> {
  const trust = await trustedRootOf(policy);
  const vm = (bundle as BundleJson | null)?.verificationMaterial;
  const rawCert = vm?.certificate?.rawBytes ?? vm?.x509CertificateChain?.certificates?.[0]?.rawBytes;
  if (!rawCert) throw new PithError('CERTIFICATE_INVALID', `expected ${where} to carry a Fulcio certificate (a keyless signature), found ${vm ? 'none (a keyed bundle?)' : 'no verificationMaterial'}`);
  const entries = vm?.tlogEntries ?? [];
  if (entries.length === 0) throw new PithError('TLOG_PROOF_MISSING', `expected ${where} to carry a transparency-log entry, found none`);
  const unproven = entries.findIndex((e) => e?.inclusionProof === undefined);
  if (unproven >= 0) throw new PithError('TLOG_PROOF_MISSING', `expected transparency-log entry ${unproven} of ${where} to carry an inclusion proof, found none`);

  let parsed: ReturnType<typeof bundleFromJSON>;
  try {
    parsed = bundleFromJSON(bundle);
  } catch (e) {
    throw new PithError('SIGNATURE_INVALID', `expected ${where} to be a Sigstore bundle, found: ${(e as Error).message}`);
  }
  if (parsed.content.$case !== 'dsseEnvelope') throw new PithError('SIGNATURE_INVALID', `expected ${where} to hold a DSSE envelope, found a ${parsed.content.$case}`);
  const envelope = parsed.content.dsseEnvelope;
  try {
    const signer = new Verifier(trust.material).verify(toSignedEntity(parsed), {
      subjectAlternativeName: policy.certificateIdentity,
      extensions: { issuer: policy.certificateOidcIssuer },
    });
    return {
      identity: signer.identity?.subjectAlternativeName ?? '',
      issuer: signer.identity?.extensions?.issuer ?? '',
      payloadType: envelope.payloadType,
      payload: new Uint8Array(envelope.payload),
      tlog: parsed.verificationMaterial.tlogEntries.map((t) => ({ logIndex: t.logIndex, integratedTime: new Date(Number(t.integratedTime) * 1000) })),
    };
  } catch (e) {
    if (e instanceof PolicyError) {
      const found = describeCertificate(rawCert);
      throw new PithError('CERTIFICATE_IDENTITY_MISMATCH', `expected ${where} to be signed by ${String(policy.certificateIdentity)} as issued by ${policy.certificateOidcIssuer}, found ${found.identity} issued by ${found.issuer}`);
    }
    const code = e instanceof VerificationError ? e.code : '';
    // "Failed to verify certificate chain" does not say why: the window and the log time tell an expired certificate.
    const detail = code === 'CERTIFICATE_ERROR' ? ` (the certificate is ${describeCertificate(rawCert).validity}; the signature was logged at ${loggedAt(parsed)})` : '';
    throw verificationFailure(code, `${where} does not verify with ${trust.source}: ${(e as Error).message}${detail}`);
  }
}

/** Opens keyless bundles (cosign.ts `checkBundle`) under `policy`, reading its trusted root once. */
export function keylessOpener(policy: KeylessPolicy): BundleOpener {
  let trust: Promise<TrustedRootMaterial> | undefined;
  return async (bundle, where) => {
    trust ??= trustedRootOf(policy);
    return (await verifyKeyless(bundle, { ...policy, trustedRoot: await trust }, where)).payload;
  };
}

const loggedAt = (bundle: ReturnType<typeof bundleFromJSON>) =>
  bundle.verificationMaterial.tlogEntries.map((t) => new Date(Number(t.integratedTime) * 1000).toISOString()).join(', ');

export interface KeylessImageVerification {
  digest: Digest;
  /** Each keyless signature of the image that verified: the referrer's digest and who signed. */
  verified: Array<{ source: Digest; identity: string; issuer: string }>;
  /** Keyless signatures found that did not verify (others may have). */
  rejected: Array<{ source: Digest; code: ErrorCode; reason: string }>;
}

/**
 * Checks the keyless bundle referrers of the image at `reference` (cosign's `--new-bundle-format` signatures that
 * carry a certificate; keyed ones are verifyImageSignatures' business): each must verify under `policy` and sign
 * the image's digest. Succeeds when one does, as `cosign verify` does; otherwise SIGNATURE_NOT_FOUND (none at all)
 * or the first rejection's code.
 */
export async function verifyKeylessImage(reference: string | Reference, policy: KeylessPolicy, options: RegistryOptions = {}): Promise<KeylessImageVerification> {
  const trustedRoot = await trustedRootOf(policy);
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  const { client, ref } = await RegistryClient.primary(logical, options, 'verify');
  const digest = logical.digest ?? (await client.getManifest(ref.path, manifestReference(ref), [repositoryScope(ref.path, ['pull'])])).digest;
  const at = { ...logical, tag: undefined, digest };
  const { referrers } = await listReferrers(at, { ...options, artifactType: BUNDLE_MEDIA_TYPE });
  const result: KeylessImageVerification = { digest, verified: [], rejected: [] };
  for (const d of referrers) {
    if (d.annotations?.['dev.sigstore.bundle.predicateType'] !== COSIGN_SIGN_PREDICATE_TYPE) continue;
    const where = `the bundle ${d.digest} in ${logical.domain}/${logical.path}`;
    try {
      const blob = (await readArtifact(at, d, digest, options)).find((b) => b.mediaType === BUNDLE_MEDIA_TYPE);
      const json = JSON.parse(new TextDecoder().decode(blob?.bytes ?? new Uint8Array())) as SerializedBundle;
      if (!json.verificationMaterial?.certificate && !json.verificationMaterial?.x509CertificateChain) continue;
      const verified = await verifyKeyless(json, { ...policy, trustedRoot }, where);
      const statement = JSON.parse(new TextDecoder().decode(verified.payload)) as { predicateType?: unknown; subject?: Array<{ digest?: { sha256?: unknown } }> };
      const subjects = (statement.subject ?? []).map((s) => s.digest?.sha256);
      if (statement.predicateType !== COSIGN_SIGN_PREDICATE_TYPE || !subjects.includes(digestHex(digest))) {
        throw new PithError('SIGNATURE_WRONG_IMAGE', `${where} signs a ${String(statement.predicateType)} statement about sha256:${subjects.join(', sha256:')}, not ${digest}`);
      }
      result.verified.push({ source: d.digest, identity: verified.identity, issuer: verified.issuer });
    } catch (e) {
      if (e instanceof SyntaxError) result.rejected.push({ source: d.digest, code: 'SIGNATURE_INVALID', reason: `${where} holds no JSON bundle: ${e.message}` });
      else if (e instanceof PithError) result.rejected.push({ source: d.digest, code: e.code === 'REGISTRY_BAD_RESPONSE' ? 'SIGNATURE_WRONG_IMAGE' : e.code, reason: e.message });
      else throw e;
    }
  }
  if (result.verified.length === 0) {
    const image = `${logical.domain}/${logical.path}@${digest}`;
    if (result.rejected.length === 0) throw new PithError('SIGNATURE_NOT_FOUND', `expected a keyless Sigstore bundle referrer signing ${image}, found none`);
    throw new PithError(failureCode(result.rejected), `no keyless signature of ${image} verifies: ${result.rejected.map((r) => r.reason).join('; ')}`);
  }
  return result;
}

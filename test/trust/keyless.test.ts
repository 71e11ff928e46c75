/**
 * Keyless (Sigstore) signing and verification against local stand-ins for a Fulcio and a Rekor (@sigstore/mock's,
 * served on 127.0.0.1: test/fixtures/sigstore.ts) and a real registry (Debian's docker-registry) for attaching.
 *
 * The oracle is Sigstore's own verifier: every bundle pith writes is also handed to `@sigstore/verify` directly,
 * with the stand-ins' trusted root and its default thresholds (one log entry, one SCT, one timestamp).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { PithError } from '../../src/errors.ts';
import { digestHex } from '../../src/oci/digest.ts';
import { pushImage } from '../../src/registry/push.ts';
import { listReferrers, readArtifact } from '../../src/registry/referrers.ts';
import { attachBundle, BUNDLE_MEDIA_TYPE, type SigstoreBundle } from '../../src/trust/bundle.ts';
import { bundleAnnotations, COSIGN_SIGN_PREDICATE_TYPE, cosignSignStatement } from '../../src/trust/cosign.ts';
import { attachKeylessSignature, loadTrustedRoot, signKeyless, verifyKeyless, verifyKeylessImage, type KeylessPolicy } from '../../src/trust/keyless.ts';
import { identityToken, serve, SigstoreStandIns, TEST_ISSUER } from '../fixtures/sigstore.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { sampleImage } from '../registry/helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-keyless-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const RELEASE = 'https://ci.pith.test/team/app/.github/workflows/release.yml@refs/heads/main';
const token = identityToken({ sub: RELEASE });
const statement = cosignSignStatement(`sha256:${'ab'.repeat(32)}`);

let sigstore: SigstoreStandIns;
before(async () => { sigstore = await SigstoreStandIns.start(); });
after(() => sigstore?.stop());

const signWith = (s: SigstoreStandIns, payload = statement, claims = token) => signKeyless(payload, { fulcioUrl: s.fulcioUrl, rekorUrl: s.rekorUrl, identityToken: claims, env: {} });
const policy = (over: Partial<KeylessPolicy> = {}): KeylessPolicy => ({ certificateIdentity: RELEASE, certificateOidcIssuer: TEST_ISSUER, trustedRoot: sigstore.trustedRoot, ...over });

/** Sigstore's verifier on its own, with its default thresholds, trusting the stand-ins' root. */
function sigstoreVerify(bundle: unknown, root: object = sigstore.trustedRoot) {
  return new Verifier(toTrustMaterial(TrustedRoot.fromJSON(root))).verify(toSignedEntity(bundleFromJSON(bundle)), { subjectAlternativeName: RELEASE, extensions: { issuer: TEST_ISSUER } });
}

/** node's assert.rejects matches an error's properties, a RegExp against a string one. */
const rejects = (p: Promise<unknown>, code: string, message?: RegExp) => assert.rejects(p, { name: 'PithError', code, ...(message ? { message } : {}) });

const copy = (b: SigstoreBundle): SigstoreBundle => JSON.parse(JSON.stringify(b)) as SigstoreBundle;

describe('signKeyless', () => {
  it('writes a v0.3 bundle: the statement in a DSSE envelope, the Fulcio certificate, a dsse Rekor entry with its inclusion proof', async () => {
    const bundle = await signWith(sigstore);
    assert.equal(bundle.mediaType, BUNDLE_MEDIA_TYPE);
    assert.ok(bundle.verificationMaterial.certificate?.rawBytes);
    assert.equal(bundle.verificationMaterial.publicKey, undefined);
    const [entry] = bundle.verificationMaterial.tlogEntries as Array<{ kindVersion: { kind: string }; inclusionProof?: { checkpoint?: { envelope?: string } }; inclusionPromise?: unknown }>;
    assert.equal(entry.kindVersion.kind, 'dsse');
    assert.match(entry.inclusionProof?.checkpoint?.envelope ?? '', /^127\.0\.0\.1:\d+ - \d+\n/, 'the checkpoint names the Rekor it came from');
    assert.ok(entry.inclusionPromise);
    assert.equal(bundle.dsseEnvelope?.payloadType, 'application/vnd.in-toto+json');
    assert.deepEqual(Buffer.from(bundle.dsseEnvelope!.payload, 'base64'), Buffer.from(statement));
  });

  it('is accepted by @sigstore/verify, and by verifyKeyless, which reports who signed and the proven log entry', async () => {
    const bundle = await signWith(sigstore);
    const signer = sigstoreVerify(bundle);
    assert.equal(signer.identity?.subjectAlternativeName, RELEASE);
    const verified = await verifyKeyless(bundle, policy());
    assert.equal(verified.identity, RELEASE);
    assert.equal(verified.issuer, TEST_ISSUER);
    assert.deepEqual(Buffer.from(verified.payload), Buffer.from(statement));
    assert.equal(verified.tlog.length, 1);
    assert.ok(Math.abs(verified.tlog[0].integratedTime.getTime() - Date.now()) < 60_000);
  });

  it('takes the token from SIGSTORE_ID_TOKEN, and the URLs from PITH_FULCIO_URL and PITH_REKOR_URL', async () => {
    const bundle = await signKeyless(statement, { env: { SIGSTORE_ID_TOKEN: token, PITH_FULCIO_URL: sigstore.fulcioUrl, PITH_REKOR_URL: `${sigstore.rekorUrl}/` } });
    assert.equal((await verifyKeyless(bundle, policy())).identity, RELEASE);
  });

  it("takes GitHub Actions' ambient token, asked for with the audience sigstore and the request token", async () => {
    const asked: string[] = [];
    const actions = await serve({
      '/token': async (_body, url, headers) => {
        asked.push(`${url.searchParams.get('audience')} ${String(headers.authorization)}`);
        return { statusCode: 200, response: JSON.stringify({ value: identityToken({ sub: 'https://ci.pith.test/ambient' }) }), contentType: 'application/json' };
      },
    });
    const saved = { url: process.env.ACTIONS_ID_TOKEN_REQUEST_URL, token: process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN };
    // sigstore-js's CIContextProvider reads the process environment itself.
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = `${actions.url}/token?api-version=2.0`;
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'request-token';
    try {
      const bundle = await signKeyless(statement, { fulcioUrl: sigstore.fulcioUrl, rekorUrl: sigstore.rekorUrl, env: {} });
      assert.deepEqual(asked, ['sigstore Bearer request-token']);
      assert.equal((await verifyKeyless(bundle, policy({ certificateIdentity: 'https://ci.pith.test/ambient' }))).identity, 'https://ci.pith.test/ambient');
    } finally {
      for (const [name, value] of [['ACTIONS_ID_TOKEN_REQUEST_URL', saved.url], ['ACTIONS_ID_TOKEN_REQUEST_TOKEN', saved.token]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      actions.server.close();
    }
  });

  it('knows no Sigstore instance: without a Fulcio or Rekor URL it names the setting that is missing', async () => {
    await rejects(signKeyless(statement, { identityToken: token, rekorUrl: sigstore.rekorUrl, env: {} }), 'KEYLESS_NOT_CONFIGURED', /PITH_FULCIO_URL/);
    await rejects(signKeyless(statement, { identityToken: token, env: { PITH_FULCIO_URL: sigstore.fulcioUrl } }), 'KEYLESS_NOT_CONFIGURED', /PITH_REKOR_URL/);
    await rejects(signKeyless(statement, { identityToken: token, env: { PITH_FULCIO_URL: 'fulcio', PITH_REKOR_URL: sigstore.rekorUrl } }), 'KEYLESS_NOT_CONFIGURED', /PITH_FULCIO_URL to be the http\(s\) URL of a Fulcio.*"fulcio"/);
  });

  it('refuses to sign without a token, or with one that is no JWT, without printing the token', async () => {
    const saved = process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
    delete process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
    const hadEnvToken = process.env.SIGSTORE_ID_TOKEN;
    delete process.env.SIGSTORE_ID_TOKEN;
    try {
      await rejects(signKeyless(statement, { fulcioUrl: sigstore.fulcioUrl, rekorUrl: sigstore.rekorUrl, env: {} }), 'OIDC_TOKEN_MISSING', /SIGSTORE_ID_TOKEN/);
    } finally {
      if (saved !== undefined) process.env.ACTIONS_ID_TOKEN_REQUEST_URL = saved;
      if (hadEnvToken !== undefined) process.env.SIGSTORE_ID_TOKEN = hadEnvToken;
    }
    await assert.rejects(signKeyless(statement, { fulcioUrl: sigstore.fulcioUrl, rekorUrl: sigstore.rekorUrl, env: { SIGSTORE_ID_TOKEN: 'secret-not-a-jwt' } }), (e: unknown) => {
      assert.ok(e instanceof PithError && e.code === 'OIDC_TOKEN_INVALID', String(e));
      assert.match(e.message, /from SIGSTORE_ID_TOKEN/);
      assert.doesNotMatch(e.message, /secret-not-a-jwt/);
      return true;
    });
  });

  it('names the Fulcio and what it answered when it gives no certificate', async () => {
    const elsewhere = await serve({});
    try {
      await rejects(signKeyless(statement, { fulcioUrl: elsewhere.url, rekorUrl: sigstore.rekorUrl, identityToken: token }), 'KEYLESS_SERVICE_FAILED', new RegExp(`Fulcio at ${elsewhere.url}.*HTTP 404`));
      await rejects(signKeyless(statement, { fulcioUrl: sigstore.fulcioUrl, rekorUrl: elsewhere.url, identityToken: token }), 'KEYLESS_SERVICE_FAILED', new RegExp(`Rekor at ${elsewhere.url}.*HTTP 404`));
    } finally {
      elsewhere.server.close();
    }
  });
});

describe('verifyKeyless refuses, each with its named error', () => {
  let bundle: SigstoreBundle;
  before(async () => { bundle = await signWith(sigstore); });

  it('another identity, or another issuer: CERTIFICATE_IDENTITY_MISMATCH, saying what the certificate names', async () => {
    await rejects(verifyKeyless(bundle, policy({ certificateIdentity: 'https://ci.pith.test/someone-else' })), 'CERTIFICATE_IDENTITY_MISMATCH', new RegExp(`found ${RELEASE.replace(/[./]/g, '\\$&')} issued by ${TEST_ISSUER.replace(/[./]/g, '\\$&')}`));
    await rejects(verifyKeyless(bundle, policy({ certificateOidcIssuer: 'https://other-issuer.pith.test' })), 'CERTIFICATE_IDENTITY_MISMATCH', /expected .* issued by https:\/\/other-issuer\.pith\.test/);
    assert.equal((await verifyKeyless(bundle, policy({ certificateIdentity: /^https:\/\/ci\.pith\.test\/team\/app\// }))).identity, RELEASE, 'a pattern matches');
  });

  it('a certificate from a CA the trusted root does not list: CERTIFICATE_INVALID', async () => {
    const rogue = await SigstoreStandIns.start();
    try {
      const forged = await signKeyless(statement, { fulcioUrl: rogue.fulcioUrl, rekorUrl: sigstore.rekorUrl, identityToken: token });
      assert.throws(() => sigstoreVerify(forged), /CERTIFICATE_ERROR|certificate/i);
      await rejects(verifyKeyless(forged, policy()), 'CERTIFICATE_INVALID');
    } finally {
      rogue.stop();
    }
  });

  it('a certificate that had expired when the signature was logged: CERTIFICATE_INVALID', async () => {
    const stale = await SigstoreStandIns.start({ caClock: new Date(Date.now() - 3_600_000) });
    try {
      const late = await signWith(stale);
      assert.throws(() => sigstoreVerify(late, stale.trustedRoot));
      await rejects(verifyKeyless(late, policy({ trustedRoot: stale.trustedRoot })), 'CERTIFICATE_INVALID', /valid \S+ to \S+; the signature was logged at/);
    } finally {
      stale.stop();
    }
  });

  it('no transparency-log entry, or an entry without its inclusion proof: TLOG_PROOF_MISSING', async () => {
    const unlogged = copy(bundle);
    unlogged.verificationMaterial.tlogEntries = [];
    assert.throws(() => sigstoreVerify(unlogged));
    await rejects(verifyKeyless(unlogged, policy()), 'TLOG_PROOF_MISSING', /found none/);
    const unproven = copy(bundle);
    delete (unproven.verificationMaterial.tlogEntries[0] as { inclusionProof?: unknown }).inclusionProof;
    await rejects(verifyKeyless(unproven, policy()), 'TLOG_PROOF_MISSING', /inclusion proof/);
  });

  it('a checkpoint whose root hash was changed (its signature no longer holds): TLOG_PROOF_INVALID', async () => {
    const forged = copy(bundle);
    const proof = (forged.verificationMaterial.tlogEntries[0] as { inclusionProof: { checkpoint: { envelope: string } } }).inclusionProof;
    const lines = proof.checkpoint.envelope.split('\n');
    lines[2] = Buffer.alloc(32, 7).toString('base64');
    proof.checkpoint.envelope = lines.join('\n');
    assert.throws(() => sigstoreVerify(forged));
    await rejects(verifyKeyless(forged, policy()), 'TLOG_PROOF_INVALID');
  });

  it('a changed payload: SIGNATURE_INVALID', async () => {
    const tampered = copy(bundle);
    tampered.dsseEnvelope!.payload = Buffer.from(cosignSignStatement(`sha256:${'cd'.repeat(32)}`)).toString('base64');
    assert.throws(() => sigstoreVerify(tampered));
    await rejects(verifyKeyless(tampered, policy()), 'SIGNATURE_INVALID');
  });

  it('a keyed bundle (no certificate): CERTIFICATE_INVALID', async () => {
    const keyed = copy(bundle);
    delete keyed.verificationMaterial.certificate;
    keyed.verificationMaterial.publicKey = { hint: 'ab'.repeat(32) };
    await rejects(verifyKeyless(keyed, policy()), 'CERTIFICATE_INVALID', /carry a Fulcio certificate/);
  });

  it('no trusted root, or a file that is none: KEYLESS_NOT_CONFIGURED, TRUSTED_ROOT_INVALID; a file given by name is read', async () => {
    await rejects(verifyKeyless(bundle, policy({ trustedRoot: undefined, env: {} })), 'KEYLESS_NOT_CONFIGURED', /PITH_TRUSTED_ROOT/);
    const bad = join(scratch, 'not-a-root.json');
    writeFileSync(bad, '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}');
    await rejects(verifyKeyless(bundle, policy({ trustedRoot: bad })), 'TRUSTED_ROOT_INVALID', new RegExp(bad));
    await rejects(loadTrustedRoot(join(scratch, 'absent.json')), 'TRUSTED_ROOT_INVALID', /absent\.json.*ENOENT/);
    const good = join(scratch, 'trusted_root.json');
    writeFileSync(good, JSON.stringify(sigstore.trustedRoot));
    assert.equal((await verifyKeyless(bundle, policy({ trustedRoot: undefined, env: { PITH_TRUSTED_ROOT: good } }))).identity, RELEASE);
  });
});

describe('keyless image signatures in a registry', { skip: registryMissing() }, () => {
  let registry: Registry;
  before(async () => { registry = await Registry.start(join(scratch, 'registry')); });
  after(() => registry?.stop());
  const signOptions = () => ({ fulcioUrl: sigstore.fulcioUrl, rekorUrl: sigstore.rekorUrl, identityToken: token });

  it('attaches a bundle referrer that @sigstore/verify accepts and verifyKeylessImage finds', async () => {
    const img = await sampleImage('keyless');
    await pushImage(`${registry.host}/team/keyless:1`, img);
    const { attached } = await attachKeylessSignature(`${registry.host}/team/keyless:1`, img.digest, signOptions());
    assert.equal(attached.subject, img.digest);
    assert.equal(attached.via, 'tag', 'docker-registry has no referrers API: the fallback tag');

    // Read back through the registry as any client would, and hand the bytes to Sigstore's verifier.
    const at = `${registry.host}/team/keyless@${img.digest}`;
    const { referrers } = await listReferrers(at, { artifactType: BUNDLE_MEDIA_TYPE });
    assert.equal(referrers.length, 1);
    assert.equal(referrers[0].annotations?.['dev.sigstore.bundle.predicateType'], COSIGN_SIGN_PREDICATE_TYPE);
    const [blob] = await readArtifact(at, referrers[0], img.digest);
    const stored = JSON.parse(Buffer.from(blob.bytes).toString()) as SigstoreBundle;
    sigstoreVerify(stored);
    const signed = JSON.parse(Buffer.from(stored.dsseEnvelope!.payload, 'base64').toString()) as { subject: Array<{ digest: { sha256: string } }> };
    assert.equal(signed.subject[0].digest.sha256, digestHex(img.digest));

    const result = await verifyKeylessImage(`${registry.host}/team/keyless:1`, policy());
    assert.deepEqual(result.verified.map((v) => [v.source, v.identity, v.issuer]), [[attached.digest, RELEASE, TEST_ISSUER]]);
    await rejects(verifyKeylessImage(`${registry.host}/team/keyless:1`, policy({ certificateIdentity: 'https://ci.pith.test/someone-else' })), 'CERTIFICATE_IDENTITY_MISMATCH');
  });

  it('refuses an image with no keyless signature, and one whose bundle signs another image', async () => {
    const img = await sampleImage('keyless-unsigned');
    await pushImage(`${registry.host}/team/keyless-other:1`, img);
    await rejects(verifyKeylessImage(`${registry.host}/team/keyless-other:1`, policy()), 'SIGNATURE_NOT_FOUND');
    // A valid keyless signature of another digest, attached to this image.
    const elsewhere = await signKeyless(cosignSignStatement(`sha256:${'ef'.repeat(32)}`), signOptions());
    await attachBundle(`${registry.host}/team/keyless-other:1`, img.digest, elsewhere, bundleAnnotations(COSIGN_SIGN_PREDICATE_TYPE, new Date()));
    await rejects(verifyKeylessImage(`${registry.host}/team/keyless-other:1`, policy()), 'SIGNATURE_WRONG_IMAGE', /sha256:efef.*not sha256:/);
  });
});

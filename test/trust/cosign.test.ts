/**
 * cosign's keyed image signatures, written to and read back from a real registry (Debian's docker-registry, which
 * lacks the referrers API, so bundles go through the fallback tag; the API path through a proxy that adds it).
 *
 * Oracles that are not pith's code: the payload is compared byte for byte with one cosign printed in its README
 * (test/fixtures/cosign/simplesigning-payload.json, from https://github.com/sigstore/cosign/blob/d6d86c224e5899b54f56cbb063b79dc43abc11c2/README.md
 * "eBPF" section, the output of `cosign verify --key cosign.pub localhost:5000/tcpconnect:test`); signatures are
 * checked with Node's own `crypto.verify`; and every bundle is handed to `@sigstore/verify`, Sigstore's verifier.
 */
import assert from 'node:assert/strict';
import { createPublicKey, createPrivateKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PithError } from '../../src/errors.ts';
import { digestOf, MediaType } from '../../src/oci/digest.ts';
import { buildIndex } from '../../src/oci/image.ts';
import { pushImage } from '../../src/registry/push.ts';
import { fallbackTag, listReferrers, type ReferrerDescriptor } from '../../src/registry/referrers.ts';
import { attachBundle, BUNDLE_MEDIA_TYPE, dsseBundle, messageSignatureBundle, type SigstoreBundle } from '../../src/trust/bundle.ts';
import {
  bundleAnnotations, COSIGN_SIGN_PREDICATE_TYPE, cosignIdentity, cosignSignStatement, signatureTag, signImage, simpleSigningPayload, SIMPLE_SIGNING_MEDIA_TYPE, verifyImageSignatures,
} from '../../src/trust/cosign.ts';
import { IN_TOTO_PAYLOAD_TYPE, keyFingerprint, signEnvelope } from '../../src/trust/dsse.ts';
import { generateKeyPair, type SigningKey } from '../../src/trust/keys.ts';
import { FaultProxy, type Fault } from '../fixtures/fault-proxy.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { rejects, sigstoreVerify } from '../fixtures/trust.ts';
import { sampleImage } from '../registry/helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-cosign-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

type EcdsaKey = Extract<SigningKey, { kind: 'ecdsa' }>;
function ecdsaKey(file: string): EcdsaKey {
  const pair = generateKeyPair();
  return { kind: 'ecdsa', privateKey: createPrivateKey(pair.privateKeyPem), publicKey: createPublicKey(pair.publicKeyPem), file };
}
const alice = ecdsaKey('alice.key');
const mallory = ecdsaKey('mallory.key');

describe('cosign payload', () => {
  it('is byte for byte what cosign writes (the example cosign printed in its README)', () => {
    const recorded = readFileSync(new URL('../fixtures/cosign/simplesigning-payload.json', import.meta.url));
    const ours = simpleSigningPayload('localhost:5000/tcpconnect', 'sha256:7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6');
    assert.equal(Buffer.from(ours).toString(), recorded.toString());
  });

  it("names the repository as go-containerregistry does: registry and path, Docker Hub as index.docker.io", () => {
    assert.equal(cosignIdentity('localhost:5000/team/app:1'), 'localhost:5000/team/app');
    assert.equal(cosignIdentity('debian:bookworm'), 'index.docker.io/library/debian');
    assert.equal(cosignIdentity('ghcr.io/o/r@sha256:' + 'a'.repeat(64)), 'ghcr.io/o/r');
    assert.equal(signatureTag(`sha256:${'ab'.repeat(32)}`), `sha256-${'ab'.repeat(32)}.sig`);
  });
});

describe('bundles', () => {
  it('@sigstore/verify accepts a message-signature bundle too (the other kind bundle.ts writes), for its message only', () => {
    const message = simpleSigningPayload('localhost:5000/team/app', `sha256:${'c'.repeat(64)}`);
    const bundle = messageSignatureBundle(message, alice.privateKey, alice.publicKey);
    sigstoreVerify(bundle, alice.publicKey, message);
    assert.throws(() => sigstoreVerify(bundle, alice.publicKey, new TextEncoder().encode('another message')), /signature verification failed/);
  });
});

describe('cosign signatures in a registry', { skip: registryMissing() }, () => {
  let registry: Registry;
  before(async () => { registry = await Registry.start(join(scratch, 'registry')); });
  after(() => registry?.stop());

  const get = async (repo: string, ref: string, accept: string = MediaType.manifest) => {
    const res = await fetch(`${registry.url}/v2/${repo}/manifests/${ref}`, { headers: { accept } });
    assert.equal(res.status, 200, `${repo}:${ref}`);
    return JSON.parse(await res.text());
  };
  const blob = async (repo: string, digest: string) => new Uint8Array(await (await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`)).arrayBuffer());
  const put = async (repo: string, ref: string, doc: unknown, mediaType: string) => {
    const res = await fetch(`${registry.url}/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: JSON.stringify(doc) });
    assert.equal(res.status, 201, await res.text());
  };
  const upload = async (repo: string, bytes: Uint8Array) => {
    const start = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    const at = new URL(start.headers.get('location')!, registry.url);
    at.searchParams.set('digest', digestOf(bytes));
    assert.equal((await fetch(at, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(bytes) })).status, 201);
  };
  const pushed = async (repo: string, marker: string) => {
    const img = await sampleImage(marker);
    await pushImage(`${registry.host}/${repo}:1`, img);
    return img.digest;
  };

  it('tag form: a .sig manifest whose layer is the payload, signed (checked with node:crypto), config as cosign writes it', async () => {
    const digest = await pushed('team/app', 'tag-form');
    const result = await signImage(`${registry.host}/team/app:1`, alice);
    assert.deepEqual(result.signatures.map((s) => [s.digest, s.tag.name, s.tag.appended, s.bundle.via]), [[digest, signatureTag(digest), true, 'tag']]);

    const sig = await get('team/app', signatureTag(digest));
    assert.equal(sig.mediaType, MediaType.manifest);
    assert.equal(sig.layers.length, 1);
    const [layer] = sig.layers;
    assert.equal(layer.mediaType, SIMPLE_SIGNING_MEDIA_TYPE);
    const payload = await blob('team/app', layer.digest);
    assert.equal(Buffer.from(payload).toString(), Buffer.from(simpleSigningPayload(`${registry.host}/team/app`, digest)).toString());
    assert.equal(JSON.parse(Buffer.from(payload).toString()).critical.image['docker-manifest-digest'], digest);
    const signature = Buffer.from(layer.annotations['dev.cosignproject.cosign/signature'], 'base64');
    assert.ok(verify('sha256', payload, alice.publicKey, signature), 'the DER ECDSA signature covers the payload bytes');
    assert.ok(!verify('sha256', payload, mallory.publicKey, signature));

    // Go's encoding/json of go-containerregistry's ConfigFile (pkg/v1/config.go field order) after mutate.Append of
    // one layer to cosign's empty image; and of its Manifest and Descriptor (pkg/v1/manifest.go).
    const config = Buffer.from(await blob('team/app', sig.config.digest)).toString();
    assert.equal(config, `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["${layer.digest}"]},"config":{}}`);
    assert.equal(sig.config.mediaType, MediaType.config);
    assert.deepEqual([Object.keys(sig), Object.keys(layer)], [['schemaVersion', 'mediaType', 'config', 'layers'], ['mediaType', 'size', 'digest', 'annotations']]);
  });

  it('appends to the signatures already there, and does not add the same key\'s signature twice', async () => {
    const digest = await pushed('team/many', 'append');
    await signImage(`${registry.host}/team/many:1`, mallory);
    const first = await get('team/many', signatureTag(digest));
    const again = await signImage(`${registry.host}/team/many:1`, alice);
    assert.equal(again.signatures[0].tag.appended, true);
    const both = await get('team/many', signatureTag(digest));
    assert.deepEqual(both.layers.slice(0, 1), first.layers, 'the earlier signature is kept as it was');
    assert.equal(both.layers.length, 2);
    assert.deepEqual(JSON.parse(Buffer.from(await blob('team/many', both.config.digest)).toString()).rootfs.diff_ids, both.layers.map((l: { digest: string }) => l.digest));
    const third = await signImage(`${registry.host}/team/many:1`, alice);
    assert.equal(third.signatures[0].tag.appended, false);
    assert.equal((await get('team/many', signatureTag(digest))).layers.length, 2);
    // Both keys verify; each finds its own signatures among the others'.
    const byAlice = await verifyImageSignatures(`${registry.host}/team/many:1`, alice.publicKey);
    assert.deepEqual(byAlice.verified.map((v) => v.form).sort(), ['bundle', 'bundle', 'tag']);
    assert.ok(byAlice.rejected.some((r) => r.form === 'tag' && r.code === 'SIGNATURE_INVALID'));
    const byMallory = await verifyImageSignatures(`${registry.host}/team/many:1`, { kind: 'ecdsa', publicKey: mallory.publicKey, file: 'mallory.pub' });
    assert.deepEqual([byMallory.verified.length, byMallory.key], [2, keyFingerprint(mallory.publicKey)]);
  });

  it('bundle form: a DSSE cosign/sign/v1 statement in a v0.3 bundle, referrer through the fallback tag, accepted by @sigstore/verify', async () => {
    const digest = await pushed('team/bundle', 'bundle-form');
    const [signed] = (await signImage(`${registry.host}/team/bundle@${digest}`, alice, { now: new Date('2026-12-03T21:00:00.250Z') })).signatures;
    const index = await get('team/bundle', fallbackTag(digest), MediaType.index);
    const entry = index.manifests.find((m: ReferrerDescriptor) => m.digest === signed.bundle.digest);
    assert.equal(entry.artifactType, BUNDLE_MEDIA_TYPE);
    const annotations = { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE_TYPE, 'org.opencontainers.image.created': '2026-12-03T21:00:00Z' };
    assert.deepEqual(entry.annotations, annotations);
    const artifact = await get('team/bundle', signed.bundle.digest);
    assert.deepEqual([artifact.subject.digest, artifact.artifactType, artifact.annotations], [digest, BUNDLE_MEDIA_TYPE, annotations]);
    const bundle = JSON.parse(Buffer.from(await blob('team/bundle', artifact.layers[0].digest)).toString()) as SigstoreBundle;
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope!.payload, 'base64').toString());
    assert.deepEqual(statement, { _type: 'https://in-toto.io/Statement/v1', subject: [{ digest: { sha256: digest.slice(7) } }], predicateType: COSIGN_SIGN_PREDICATE_TYPE, predicate: {} });
    sigstoreVerify(bundle, alice.publicKey);
    assert.throws(() => sigstoreVerify(bundle, mallory.publicKey));
    const tampered = { ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope!, payload: Buffer.from(cosignSignStatement(`sha256:${'0'.repeat(64)}`)).toString('base64') } };
    assert.throws(() => sigstoreVerify(tampered, alice.publicKey), /signature/i);
  });

  it('bundle form through the referrers API when the registry has it (no fallback tag written)', async () => {
    const digest = await pushed('team/api', 'api-form');
    let answer: string | undefined;
    const proxy = await FaultProxy.start(registry.url, (r): Fault | undefined => {
      if (r.method === 'PUT' && r.url.includes('/manifests/sha256:')) return { kind: 'add-headers', headers: { 'oci-subject': digest } };
      if (r.method === 'GET' && r.url.startsWith(`/v2/team/api/referrers/${digest}`)) {
        return answer ? { kind: 'respond', status: 200, headers: { 'content-type': MediaType.index }, body: answer } : { kind: 'respond', status: 200, headers: { 'content-type': MediaType.index }, body: '{"schemaVersion":2,"manifests":[]}' };
      }
      return undefined;
    });
    try {
      const [signed] = (await signImage(`${proxy.host}/team/api:1`, alice)).signatures;
      assert.equal(signed.bundle.via, 'api');
      assert.equal((await fetch(`${registry.url}/v2/team/api/manifests/${fallbackTag(digest)}`, { method: 'HEAD', headers: { accept: MediaType.index } })).status, 404);
      const res = await fetch(`${registry.url}/v2/team/api/manifests/${signed.bundle.digest}`, { headers: { accept: MediaType.manifest } });
      const bytes = new Uint8Array(await res.arrayBuffer());
      const m = JSON.parse(Buffer.from(bytes).toString());
      answer = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.index, manifests: [{ mediaType: MediaType.manifest, digest: digestOf(bytes), size: bytes.byteLength, artifactType: m.artifactType, annotations: m.annotations }] });
      const v = await verifyImageSignatures(`${proxy.host}/team/api:1`, alice.publicKey);
      assert.deepEqual(v.verified.map((s) => s.form).sort(), ['bundle', 'tag']);
      assert.equal(v.verified.find((s) => s.form === 'bundle')?.source, signed.bundle.digest);
    } finally {
      await proxy.close();
    }
  });

  it('an index: signs the index and each platform manifest, and each verifies', async () => {
    const idx = buildIndex([await sampleImage('multi-sign', 'amd64'), await sampleImage('multi-sign', 'arm64')]);
    await pushImage(`${registry.host}/team/multi:1`, idx);
    const result = await signImage(`${registry.host}/team/multi:1`, alice);
    assert.deepEqual(result.signatures.map((s) => s.digest), [idx.digest, ...idx.images.map((m) => m.digest)]);
    for (const d of [idx.digest, ...idx.images.map((m) => m.digest)]) {
      const v = await verifyImageSignatures(`${registry.host}/team/multi@${d}`, alice.publicKey);
      assert.deepEqual([v.digest, v.verified.length, v.rejected.length], [d, 2, 0]);
      const { referrers } = await listReferrers(`${registry.host}/team/multi@${d}`);
      const artifact = await get('team/multi', referrers[0].digest);
      sigstoreVerify(JSON.parse(Buffer.from(await blob('team/multi', artifact.layers[0].digest)).toString()), alice.publicKey);
    }
  });

  describe('verification refuses', () => {
    it('an image with no signature', async () => {
      const digest = await pushed('team/unsigned', 'unsigned');
      await rejects(verifyImageSignatures(`${registry.host}/team/unsigned@${digest}`, alice.publicKey), 'SIGNATURE_NOT_FOUND', /found none/);
    });

    it('another key', async () => {
      await pushed('team/wrongkey', 'wrong-key');
      await signImage(`${registry.host}/team/wrongkey:1`, mallory);
      await rejects(verifyImageSignatures(`${registry.host}/team/wrongkey:1`, alice.publicKey), 'SIGNATURE_INVALID', /does not verify/);
    });

    it('a tampered payload, in either form', async () => {
      const digest = await pushed('team/tampered', 'tampered');
      await signImage(`${registry.host}/team/tampered:1`, alice);
      const sig = await get('team/tampered', signatureTag(digest));
      // The payload re-serialised with a space: same claims, other bytes, the old signature.
      const changed = new TextEncoder().encode(Buffer.from(simpleSigningPayload(`${registry.host}/team/tampered`, digest)).toString().replace('"optional":null', '"optional": null'));
      await upload('team/tampered', changed);
      await put('team/tampered', signatureTag(digest), { ...sig, layers: [{ ...sig.layers[0], digest: digestOf(changed), size: changed.byteLength }] }, MediaType.manifest);
      await put('team/tampered', fallbackTag(digest), { schemaVersion: 2, mediaType: MediaType.index, manifests: [] }, MediaType.index);
      const honest = dsseBundle(signEnvelope(IN_TOTO_PAYLOAD_TYPE, cosignSignStatement(digest), alice.privateKey), alice.publicKey);
      const forged: SigstoreBundle = { ...honest, dsseEnvelope: { ...honest.dsseEnvelope!, payload: Buffer.from(Buffer.from(cosignSignStatement(digest)).toString() + ' ').toString('base64') } };
      await attachBundle(`${registry.host}/team/tampered:1`, digest, forged, bundleAnnotations(COSIGN_SIGN_PREDICATE_TYPE, new Date()));
      await assert.rejects(verifyImageSignatures(`${registry.host}/team/tampered:1`, alice.publicKey), (e: PithError) => {
        assert.equal(e.code, 'SIGNATURE_INVALID');
        assert.match(e.message, /layer sha256:.*does not verify.*none of the 1 signature/);
        return true;
      });
    });

    it('a signature for another digest (a .sig copied to this image\'s tag, a bundle signing another image)', async () => {
      const a = await pushed('team/copy', 'copy-a');
      await signImage(`${registry.host}/team/copy:1`, alice);
      const b = await pushed('team/copy', 'copy-b');
      await put('team/copy', signatureTag(b), await get('team/copy', signatureTag(a)), MediaType.manifest);
      const other = dsseBundle(signEnvelope(IN_TOTO_PAYLOAD_TYPE, cosignSignStatement(a), alice.privateKey), alice.publicKey);
      await attachBundle(`${registry.host}/team/copy@${b}`, b, other, bundleAnnotations(COSIGN_SIGN_PREDICATE_TYPE, new Date()));
      await assert.rejects(verifyImageSignatures(`${registry.host}/team/copy@${b}`, alice.publicKey), (e: PithError) => {
        assert.equal(e.code, 'SIGNATURE_WRONG_IMAGE');
        assert.match(e.message, new RegExp(`signs ${a}, not ${b}.*signs ${a}, not ${b}`));
        return true;
      });
    });

    it('a signature naming another repository', async () => {
      const digest = await pushed('team/origin', 'moved');
      await signImage(`${registry.host}/team/origin:1`, alice);
      await pushImage(`${registry.host}/team/moved:1`, await sampleImage('moved'));
      const sig = await get('team/origin', signatureTag(digest));
      for (const d of [sig.config.digest, sig.layers[0].digest]) {
        assert.equal((await fetch(`${registry.url}/v2/team/moved/blobs/uploads/?mount=${d}&from=team/origin`, { method: 'POST' })).status, 201);
      }
      await put('team/moved', signatureTag(digest), sig, MediaType.manifest);
      await rejects(verifyImageSignatures(`${registry.host}/team/moved:1`, alice.publicKey), 'SIGNATURE_WRONG_IMAGE', /names the repository .*team\/origin, not .*team\/moved/);
    });

    it('a referrer whose subject is another image', async () => {
      const a = await pushed('team/subject', 'subject-a');
      const [signed] = (await signImage(`${registry.host}/team/subject:1`, alice)).signatures;
      const b = await pushed('team/subject', 'subject-b');
      const entry = (await get('team/subject', fallbackTag(a), MediaType.index)).manifests.find((m: ReferrerDescriptor) => m.digest === signed.bundle.digest);
      await put('team/subject', fallbackTag(b), { schemaVersion: 2, mediaType: MediaType.index, manifests: [entry] }, MediaType.index);
      await rejects(verifyImageSignatures(`${registry.host}/team/subject@${b}`, alice.publicKey), 'SIGNATURE_WRONG_IMAGE', new RegExp(`about ${b}.*found subject ${a}`));
    });

    it('an OpenPGP key, for the ECDSA formats', async () => {
      await rejects(signImage(`${registry.host}/team/app:1`, { kind: 'openpgp', privateKey: undefined as never, file: 'k.asc' }), 'KEY_INVALID', /expected an ECDSA P-256 key.*k\.asc/);
    });
  });
});


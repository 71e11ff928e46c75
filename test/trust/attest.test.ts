/**
 * Attestations of an image pith built from the fixture archive and pushed to a real registry (Debian's
 * docker-registry: no referrers API, so bundles go through the fallback tag): SLSA v1 provenance and both SBOMs,
 * signed, attached in cosign's two forms, found and verified again — and refused when tampered with, signed by
 * another key, about another image, or built from another lock.
 *
 * Oracles that are not pith's code: statements are checked field by field against the in-toto Statement v1,
 * ResourceDescriptor and SLSA provenance v1 protos (test/fixtures/intoto, from in-toto/attestation); every DSSE
 * signature is checked with Node's own `crypto.verify` over a pre-authentication encoding this test computes;
 * every bundle is handed to `@sigstore/verify`; every dependency's digest is compared with the sha256 of the bytes
 * the fixture archive serves at its URL.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lockPathFor, readLock } from '../../src/lock/lock.ts';
import { digestHex, type Digest } from '../../src/oci/digest.ts';
import { lock } from '../../src/orchestrate/lock.ts';
import { build, type BuildResult } from '../../src/orchestrate/build.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { pushImage } from '../../src/registry/push.ts';
import { fallbackTag, listReferrers, readArtifact } from '../../src/registry/referrers.ts';
import { sbomFor } from '../../src/sbom/sbom.ts';
import {
  attestationTag, attestImage, CYCLONEDX_PREDICATE_TYPE, DSSE_ENVELOPE_MEDIA_TYPE, LOCK_MEDIA_TYPE, PITH_BUILD_TYPE, provenanceLockDifferences, SLSA_PROVENANCE_V1,
  SPDX_PREDICATE_TYPE, verifyAttestations, type Statement,
} from '../../src/trust/attest.ts';
import { attachBundle, BUNDLE_MEDIA_TYPE, dsseBundle } from '../../src/trust/bundle.ts';
import { bundleAnnotations, writeTagLayers } from '../../src/trust/cosign.ts';
import { IN_TOTO_PAYLOAD_TYPE, signEnvelope, type DsseEnvelope } from '../../src/trust/dsse.ts';
import { loadSigningKey, writeKeyPair } from '../../src/trust/keys.ts';
import { missingTools } from '../fixtures/apt.ts';
import { buildFixtureArchive, fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { securityFixSuites } from '../fixtures/security-fix.ts';
import { rejects, sigstoreVerify } from '../fixtures/trust.ts';
import { sampleImage } from '../registry/helpers.ts';
import { identityToken, SigstoreStandIns, TEST_ISSUER } from '../fixtures/sigstore.ts';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';

const scratch = mkdtempSync(join(tmpdir(), 'pith-attest-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' }) ?? registryMissing();

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

// ---------------------------------------------------------------------------------------------------------------
// The in-toto protos as a field-name oracle

type Field = { type: string; repeated: boolean; json: string };
/** Each message of the fixture protos with its fields by JSON name (json_name, else protobuf's lowerCamelCase). */
function protoMessages(): Map<string, Map<string, Field>> {
  const messages = new Map<string, Map<string, Field>>();
  for (const file of ['statement.proto', 'resource_descriptor.proto', 'provenance.proto']) {
    const text = readFileSync(new URL(`../fixtures/intoto/${file}`, import.meta.url), 'utf8').replace(/\/\/.*$/gm, '');
    for (const m of text.matchAll(/message (\w+) \{([^}]*)\}/g)) {
      const fields = new Map<string, Field>();
      for (const f of m[2]!.matchAll(/^\s*(repeated )?([\w.]+|map<\w+, \w+>) (\w+) = \d+(?: \[json_name = "(\w+)"\])?;/gm)) {
        const json = f[4] ?? f[3]!.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
        fields.set(json, { type: f[2]!.replace(/^.*\./, ''), repeated: f[1] !== undefined, json });
      }
      messages.set(m[1]!, fields);
    }
  }
  return messages;
}
const PROTOS = protoMessages();

/** Fails on any field `message` does not declare, or a value not of its declared type; returns the fields seen. */
function checkMessage(value: unknown, message: string, path: string): void {
  const fields = PROTOS.get(message);
  assert.ok(fields, `no message ${message} in the protos`);
  assert.equal(typeof value, 'object', `${path} is a ${message} object`);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const field = fields.get(key);
    assert.ok(field, `${path}.${key}: ${message} has no field "${key}" (fields: ${[...fields.keys()].join(', ')})`);
    const values = field.repeated ? (assert.ok(Array.isArray(v), `${path}.${key} is repeated`), v as unknown[]) : [v];
    values.forEach((item, i) => {
      const at = field.repeated ? `${path}.${key}[${i}]` : `${path}.${key}`;
      if (field.type === 'string') assert.equal(typeof item, 'string', at);
      else if (field.type === 'Timestamp') assert.match(String(item), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, `${at} is an RFC 3339 UTC timestamp`);
      else if (field.type === 'Struct') assert.ok(item !== null && typeof item === 'object' && !Array.isArray(item), `${at} is a JSON object`);
      else if (field.type === 'map<string, string>') assert.ok(Object.values(item as object).every((s) => typeof s === 'string'), `${at} maps strings to strings`);
      else checkMessage(item, field.type, at);
    });
  }
}

describe('the in-toto protos as an oracle', () => {
  it('give the field names of Statement v1 and SLSA provenance v1, and refuse a field they lack', () => {
    assert.deepEqual([...PROTOS.get('Statement')!.keys()], ['_type', 'subject', 'predicateType', 'predicate']);
    assert.deepEqual([...PROTOS.get('BuildDefinition')!.keys()], ['buildType', 'externalParameters', 'internalParameters', 'resolvedDependencies']);
    assert.deepEqual([...PROTOS.get('ResourceDescriptor')!.keys()], ['name', 'uri', 'digest', 'content', 'downloadLocation', 'mediaType', 'annotations']);
    assert.throws(() => checkMessage({ buildDefinition: { build_type: 'x' } }, 'Provenance', 'predicate'), /BuildDefinition has no field "build_type"/);
    assert.throws(() => checkMessage({ runDetails: { metadata: { startedOn: '2026-01-02 03:04' } } }, 'Provenance', 'predicate'), /RFC 3339/);
    assert.throws(() => checkMessage({ subject: { name: 'x' } }, 'Statement', 'statement'), /is repeated/);
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** DSSE's pre-authentication encoding, written here from the DSSE protocol (secure-systems-lab/dsse protocol.md). */
const paeOf = (type: string, body: Buffer) => Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);

/** The statement of an envelope whose signature verifies with `key` by Node's crypto. */
function openWithNode(envelope: DsseEnvelope, key: KeyObject): Statement {
  assert.equal(envelope.payloadType, 'application/vnd.in-toto+json');
  const body = Buffer.from(envelope.payload, 'base64');
  assert.ok(envelope.signatures.some((s) => verify('sha256', paeOf(envelope.payloadType, body), { key, dsaEncoding: 'der' }, Buffer.from(s.sig, 'base64'))), 'the signature verifies (node:crypto)');
  return JSON.parse(body.toString()) as Statement;
}

describe('attestations of a built image in a registry', { skip }, () => {
  let archive: FixtureArchive;
  let registry: Registry;
  let built: BuildResult;
  const specDir = join(scratch, 'spec');
  const specPath = join(specDir, 'pith.yaml');
  const cacheDir = join(scratch, 'cache');
  const keys = join(scratch, 'keys');
  let alicePub: KeyObject;
  const repos = ['team/app', 'team/bare', 'team/tampered', 'team/other', 'team/registry-sbom', 'team/keyless'];
  const ref = (repo: string) => `${registry.host}/${repo}:1`;

  before(async () => {
    archive = await startFixtureArchive(join(scratch, 'archive'));
    registry = await Registry.start(join(scratch, 'registry'));
    mkdirSync(specDir);
    writeFileSync(specPath, fixtureSpec(archive));
    built = await build(specPath, { cacheDir, outputs: [`oci:${join(scratch, 'out')}:app`], push: repos.map(ref) });
    mkdirSync(keys);
    await writeKeyPair(join(keys, 'alice'), '');
    await writeKeyPair(join(keys, 'mallory'), '');
    alicePub = createPublicKey(readFileSync(join(keys, 'alice.pub')));
  });
  after(async () => {
    await registry?.stop();
    await archive?.close();
  });

  const get = async (repo: string, reference: string) => {
    const res = await fetch(`${registry.url}/v2/${repo}/manifests/${reference}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' } });
    assert.equal(res.status, 200, `${repo}:${reference}`);
    return JSON.parse(await res.text());
  };
  const blob = async (repo: string, digest: string) => Buffer.from(await (await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`)).arrayBuffer());
  const client = () => RegistryClient.open(registry.host, {}, 'team/tampered');

  it('attests the provenance and both SBOMs, each signed, in both of cosign\'s forms', async () => {
    const startedOn = new Date('2026-01-02T03:04:05.678Z');
    const finishedOn = new Date('2026-01-02T03:04:09Z');
    const report = await attestImage(ref('team/app'), join(keys, 'alice.key'), { spec: specPath, image: built.image, builderId: 'https://ci.invalid/runner/7', startedOn, finishedOn });
    const digest = built.digest as Digest;
    assert.equal(report.digest, digest);
    assert.deepEqual(report.attestations.map((a) => [a.predicateType, a.subject, a.tag, a.bundle.via]), [
      [SLSA_PROVENANCE_V1, digest, attestationTag(digest), 'tag'],
      [SPDX_PREDICATE_TYPE, digest, attestationTag(digest), 'tag'],
      [CYCLONEDX_PREDICATE_TYPE, digest, attestationTag(digest), 'tag'],
    ]);

    // The .att tag: one DSSE layer per statement, annotated as cosign annotates them, in go-containerregistry's config.
    const att = await get('team/app', `sha256-${digestHex(digest)}.att`);
    assert.deepEqual(att.layers.map((l: { mediaType: string; annotations: Record<string, string> }) => [l.mediaType, l.annotations]), [SLSA_PROVENANCE_V1, SPDX_PREDICATE_TYPE, CYCLONEDX_PREDICATE_TYPE].map((t) => [
      'application/vnd.dsse.envelope.v1+json', { 'dev.cosignproject.cosign/signature': '', predicateType: t },
    ]));
    const config = JSON.parse((await blob('team/app', att.config.digest)).toString());
    assert.deepEqual(config.rootfs.diff_ids, att.layers.map((l: { digest: string }) => l.digest));
    const statements: Statement[] = [];
    for (const layer of att.layers) {
      const envelope = JSON.parse((await blob('team/app', layer.digest)).toString());
      assert.deepEqual(Object.keys(envelope), ['payload', 'payloadType', 'signatures'], 'the envelope as cosign marshals it');
      statements.push(openWithNode(envelope, alicePub));
    }

    // The referrers: a Sigstore bundle each, annotated as cosign annotates them, accepted by @sigstore/verify, signing the same statement.
    const index = await get('team/app', fallbackTag(digest));
    assert.deepEqual(index.manifests.map((d: { artifactType: string; annotations: Record<string, string> }) => [d.artifactType, d.annotations['dev.sigstore.bundle.content'], d.annotations['dev.sigstore.bundle.predicateType']]),
      [SLSA_PROVENANCE_V1, SPDX_PREDICATE_TYPE, CYCLONEDX_PREDICATE_TYPE].map((t) => [BUNDLE_MEDIA_TYPE, 'dsse-envelope', t]));
    for (const [i, d] of index.manifests.entries()) {
      const artifact = await get('team/app', d.digest);
      assert.equal(artifact.subject.digest, digest);
      const bundle = JSON.parse((await blob('team/app', artifact.layers[0].digest)).toString());
      sigstoreVerify(bundle, alicePub);
      assert.deepEqual(openWithNode(bundle.dsseEnvelope, alicePub), statements[i], 'the bundle signs the statement the .att layer signs');
    }

    // The provenance: in-toto Statement v1 with a SLSA v1 predicate, no field the protos lack.
    const [provenance, spdx, cyclonedx] = statements as [Statement<any>, Statement<any>, Statement<any>];
    for (const s of statements) checkMessage(s, 'Statement', 'statement');
    checkMessage(provenance.predicate, 'Provenance', 'predicate');
    assert.equal(provenance._type, 'https://in-toto.io/Statement/v1');
    assert.deepEqual(provenance.subject, [{ name: `${registry.host}/team/app`, digest: { sha256: digestHex(digest) } }]);
    assert.equal(provenance.predicateType, 'https://slsa.dev/provenance/v1');
    const { buildDefinition: def, runDetails: run } = provenance.predicate;
    assert.equal(def.buildType, PITH_BUILD_TYPE);
    assert.deepEqual(def.externalParameters, { spec: { path: specPath, digest: { sha256: sha256(readFileSync(specPath)) } } });
    assert.deepEqual(run, { builder: { id: 'https://ci.invalid/runner/7', version: { pith: '0.1.0' } }, metadata: { startedOn: '2026-01-02T03:04:05.678Z', finishedOn: '2026-01-02T03:04:09.000Z' } });

    // Every resolved dependency: the lock by its bytes, each InRelease and each .deb by the bytes the archive serves.
    const lockPath = lockPathFor(specPath);
    const lockFile = readLock(lockPath);
    const deps = def.resolvedDependencies as Array<{ name?: string; uri?: string; digest: { sha256: string }; downloadLocation?: string; mediaType?: string; annotations?: Record<string, string> }>;
    assert.deepEqual(deps[0], { name: 'pith.lock', digest: { sha256: sha256(readFileSync(lockPath)) }, mediaType: LOCK_MEDIA_TYPE });
    const releases = deps.filter((d) => d.uri?.endsWith('/InRelease'));
    assert.deepEqual(releases.map((d) => d.annotations!.suite), lockFile.sources.map((s) => s.suite));
    const debs = deps.filter((d) => d.uri?.startsWith('pkg:deb/'));
    const locked = lockFile.architectures.amd64!;
    const expected = [...locked.packages, ...(locked.baseFiles && !locked.packages.some((p) => p.name === 'base-files') ? [locked.baseFiles] : [])];
    assert.deepEqual(debs.map((d) => [d.name, d.digest.sha256, d.annotations!.suite]).sort(), expected.map((p) => [p.name, p.sha256, p.suite]).sort());
    for (const d of debs) assert.ok(d.uri!.startsWith(`pkg:deb/debian/${d.name}@`) && d.uri!.includes('arch='), d.uri);
    for (const d of [...releases.map((r) => ({ ...r, downloadLocation: r.uri })), ...debs]) {
      const res = await fetch(d.downloadLocation!);
      assert.equal(res.status, 200, d.downloadLocation);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), d.digest.sha256, `${d.downloadLocation} serves the bytes the provenance names`);
    }

    // The SBOMs: the documents themselves, naming each package by the purl the provenance uses.
    assert.equal(spdx.predicateType, 'https://spdx.dev/Document');
    assert.equal(spdx.predicate.spdxVersion, 'SPDX-2.3');
    assert.equal(cyclonedx.predicateType, 'https://cyclonedx.org/bom');
    assert.equal(cyclonedx.predicate.bomFormat, 'CycloneDX');
    const libfoo = debs.find((d) => d.name === 'libfoo1')!;
    const component = cyclonedx.predicate.components.find((c: { name: string }) => c.name === 'libfoo1');
    assert.equal(component.purl.replace(/&distro=[^&]*/, ''), libfoo.uri, 'one purl for one package across documents');
    for (const s of [spdx, cyclonedx]) assert.deepEqual(s.subject, provenance.subject);
  });

  it('verifyAttestations finds both forms, checks each signature and subject, and the lock the image was built from', async () => {
    const report = await verifyAttestations(ref('team/app'), join(keys, 'alice.pub'), { lock: lockPathFor(specPath), require: [SLSA_PROVENANCE_V1, SPDX_PREDICATE_TYPE, CYCLONEDX_PREDICATE_TYPE] });
    assert.equal(report.digest, built.digest);
    assert.deepEqual(report.verified.map((v) => `${v.form} ${v.predicateType}`).sort(), [
      `bundle ${CYCLONEDX_PREDICATE_TYPE}`, `bundle ${SLSA_PROVENANCE_V1}`, `bundle ${SPDX_PREDICATE_TYPE}`,
      `tag ${CYCLONEDX_PREDICATE_TYPE}`, `tag ${SLSA_PROVENANCE_V1}`, `tag ${SPDX_PREDICATE_TYPE}`,
    ]);
    assert.deepEqual(report.rejected, []);
    assert.equal(report.lock?.sha256, sha256(readFileSync(lockPathFor(specPath))));
  });

  it('without the image in memory, the SBOMs are read from the registry: the same statements', async () => {
    await attestImage(ref('team/registry-sbom'), join(keys, 'alice.key'), { spec: specPath, sbom: ['spdx'] });
    const fromMemory = (await verifyAttestations(ref('team/app'), alicePub, { require: [SPDX_PREDICATE_TYPE] })).verified.find((v) => v.predicateType === SPDX_PREDICATE_TYPE)!;
    const fromRegistry = (await verifyAttestations(ref('team/registry-sbom'), alicePub, { require: [SPDX_PREDICATE_TYPE] })).verified.find((v) => v.predicateType === SPDX_PREDICATE_TYPE)!;
    assert.deepEqual(fromRegistry.statement.predicate, fromMemory.statement.predicate);
    assert.deepEqual(fromRegistry.statement.predicate, JSON.parse((await sbomFor(`docker://${ref('team/app')}`, { format: 'spdx', fresh: true }))[0]!.document));
  });

  it('appends: attesting again keeps the attestations there', async () => {
    const digest = built.digest as Digest;
    const layers = (await get('team/app', attestationTag(digest))).layers;
    const referrers = (await get('team/app', fallbackTag(digest))).manifests;
    await attestImage(ref('team/app'), join(keys, 'alice.key'), { spec: specPath, image: built.image, sbom: [] });
    const after = (await get('team/app', attestationTag(digest))).layers;
    assert.equal(after.length, layers.length + 1);
    assert.deepEqual(after.slice(0, layers.length), layers, 'the layers there are kept as they were');
    assert.deepEqual((await get('team/app', fallbackTag(digest))).manifests.slice(0, referrers.length), referrers);
    assert.equal((await get('team/app', fallbackTag(digest))).manifests.length, referrers.length + 1);
  });

  it('keyless: each statement in a bundle with a Fulcio certificate and Rekor entry (no .att tag); verified by identity and lock, another identity refused', async () => {
    const sigstore = await SigstoreStandIns.start();
    try {
      const release = 'https://ci.pith.test/team/app/.github/workflows/release.yml@refs/heads/main';
      const report = await attestImage(ref('team/keyless'), { keyless: { fulcioUrl: sigstore.fulcioUrl, rekorUrl: sigstore.rekorUrl, identityToken: identityToken({ sub: release }), env: {} } }, { spec: specPath, image: built.image });
      assert.deepEqual(report.attestations.map((a) => [a.predicateType, a.tag, a.bundle.via]), [SLSA_PROVENANCE_V1, SPDX_PREDICATE_TYPE, CYCLONEDX_PREDICATE_TYPE].map((t) => [t, undefined, 'tag']));
      assert.equal((await fetch(`${registry.url}/v2/team/keyless/manifests/${attestationTag(built.digest as Digest)}`, { method: 'HEAD' })).status, 404, 'no .att tag');
      // Sigstore's own verifier accepts each bundle: certificate chain, SCT, log inclusion, identity.
      const root = toTrustMaterial(TrustedRoot.fromJSON(sigstore.trustedRoot));
      for (const a of report.attestations) {
        const at = `${registry.host}/team/keyless@${a.subject}`;
        const descriptor = (await listReferrers(at)).referrers.find((d) => d.digest === a.bundle.digest)!;
        const [bundle] = (await readArtifact(at, descriptor, a.subject)).filter((x) => x.mediaType === BUNDLE_MEDIA_TYPE);
        new Verifier(root).verify(toSignedEntity(bundleFromJSON(JSON.parse(Buffer.from(bundle!.bytes).toString()))), { subjectAlternativeName: release, extensions: { issuer: TEST_ISSUER } });
      }
      const policy = { certificateIdentity: release, certificateOidcIssuer: TEST_ISSUER, trustedRoot: sigstore.trustedRoot };
      const verified = await verifyAttestations(ref('team/keyless'), { keyless: policy }, { lock: lockPathFor(specPath), require: [SLSA_PROVENANCE_V1, SPDX_PREDICATE_TYPE, CYCLONEDX_PREDICATE_TYPE] });
      assert.deepEqual(verified.verified.map((v) => `${v.form} ${v.predicateType}`).sort(), [`bundle ${CYCLONEDX_PREDICATE_TYPE}`, `bundle ${SLSA_PROVENANCE_V1}`, `bundle ${SPDX_PREDICATE_TYPE}`]);
      assert.ok(verified.lock);
      await rejects(verifyAttestations(ref('team/keyless'), { keyless: { ...policy, certificateIdentity: 'mallory@example.test' } }), 'CERTIFICATE_IDENTITY_MISMATCH', /no https:\/\/slsa\.dev\/provenance\/v1 attestation of .* verifies with a certificate for mallory@example\.test from .*: .*expected .* to be signed by mallory@example\.test .* found https:\/\/ci\.pith\.test\//);
      await rejects(verifyAttestations(ref('team/keyless'), alicePub), 'SIGNATURE_INVALID');
    } finally {
      sigstore.stop();
    }
  });

  it('refuses an image with no attestation, and one whose attestations another key signed', async () => {
    await rejects(verifyAttestations(ref('team/bare'), alicePub), 'ATTESTATION_NOT_FOUND', /expected a https:\/\/slsa\.dev\/provenance\/v1 attestation of .*team\/bare@sha256:[0-9a-f]{64} .*found none/);
    await rejects(verifyAttestations(ref('team/app'), join(keys, 'mallory.pub')), 'SIGNATURE_INVALID', /none of the 1 signature\(s\) of .* verifies with the given key/);
  });

  it('refuses a tampered payload in either form', async () => {
    const digest = built.digest as Digest;
    const alice = await loadSigningKey(join(keys, 'alice.key'));
    assert.equal(alice.kind, 'ecdsa');
    if (alice.kind !== 'ecdsa') return;
    const genuine = (await verifyAttestations(ref('team/app'), alicePub)).verified.find((v) => v.predicateType === SLSA_PROVENANCE_V1)!.statement;
    const envelope = signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(genuine)), alice.privateKey);
    // Another package digest in the signed statement, the signature kept.
    const forged = JSON.stringify(genuine).replace(/"digest":\{"sha256":"[0-9a-f]{64}"\},"downloadLocation"/, `"digest":{"sha256":"${'0'.repeat(64)}"},"downloadLocation"`);
    assert.notEqual(forged, JSON.stringify(genuine));
    const tampered: DsseEnvelope = { ...envelope, payload: Buffer.from(forged).toString('base64') };
    const layerBytes = Buffer.from(JSON.stringify({ payload: tampered.payload, payloadType: tampered.payloadType, signatures: tampered.signatures }));
    const layer = { mediaType: DSSE_ENVELOPE_MEDIA_TYPE, digest: `sha256:${sha256(layerBytes)}` as Digest, size: layerBytes.length, annotations: { 'dev.cosignproject.cosign/signature': '', predicateType: SLSA_PROVENANCE_V1 } };
    await writeTagLayers(client(), 'team/tampered', attestationTag(digest), [layer], [layerBytes], ['repository:team/tampered:pull,push']);
    await rejects(verifyAttestations(ref('team/tampered'), alicePub), 'SIGNATURE_INVALID', /team\/tampered:sha256-[0-9a-f]{64}\.att layer sha256:[0-9a-f]{64} verifies with the given key/);
    await attachBundle(ref('team/tampered'), digest, dsseBundle(tampered, alicePub), bundleAnnotations(SLSA_PROVENANCE_V1, new Date()));
    await rejects(verifyAttestations(ref('team/tampered'), alicePub), 'SIGNATURE_INVALID', /the bundle sha256:[0-9a-f]{64} in .*team\/tampered/);
    const lockPath = lockPathFor(specPath);
    assert.deepEqual(provenanceLockDifferences(JSON.parse(forged).predicate, readLock(lockPath), { name: 'pith.lock', bytes: readFileSync(lockPath) }).length, 1, 'the forged statement differs from the lock in one package');
  });

  it('refuses a statement about another image, and a referrer whose subject is another image', async () => {
    const digest = built.digest as Digest;
    const alice = await loadSigningKey(join(keys, 'alice.key'));
    if (alice.kind !== 'ecdsa') throw new Error('alice is an ECDSA key');
    const other = `sha256:${sha256('another image')}` as Digest;
    const about = (d: Digest) => signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'x', digest: { sha256: digestHex(d) } }], predicateType: SLSA_PROVENANCE_V1, predicate: {} })), alice.privateKey);
    // Signed by the right key, attached to this image, but about another one.
    await attachBundle(ref('team/other'), digest, dsseBundle(about(other), alicePub), bundleAnnotations(SLSA_PROVENANCE_V1, new Date()));
    await rejects(verifyAttestations(ref('team/other'), alicePub), 'SIGNATURE_WRONG_IMAGE', new RegExp(`signs sha256:${digestHex(other)}, not ${digest}`));

    // A referrer of the base image listed in this image's fallback index: its manifest's subject gives it away.
    const baseRef = `${registry.host}/team/other:base`;
    const elsewhere = await sampleImage('another image');
    await pushImage(baseRef, elsewhere);
    const attached = await attachBundle(baseRef, elsewhere.digest, dsseBundle(about(elsewhere.digest), alicePub), bundleAnnotations(SLSA_PROVENANCE_V1, new Date()));
    const theirs = (await get('team/other', fallbackTag(elsewhere.digest))).manifests.find((d: { digest: string }) => d.digest === attached.digest);
    const ours = await get('team/other', fallbackTag(digest));
    const res = await fetch(`${registry.url}/v2/team/other/manifests/${fallbackTag(digest)}`, {
      method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: JSON.stringify({ ...ours, manifests: [theirs] }),
    });
    assert.equal(res.status, 201);
    await rejects(verifyAttestations(ref('team/other'), alicePub), 'SIGNATURE_WRONG_IMAGE', new RegExp(`to be about ${digest} .*found subject ${elsewhere.digest}`));
    // Nor does pith attest an image other than the one it is handed.
    await rejects(attestImage(ref('team/bare'), join(keys, 'alice.key'), { spec: specPath, image: elsewhere }), 'SIGNATURE_WRONG_IMAGE', /team\/bare:1 to be the image given to attest/);
  });

  it('refuses a lock the image was not built from, naming the packages that differ', async () => {
    // The archive publishes a security fix; the same spec locked again gets the new libfoo1 (and a newer libbar2).
    await buildFixtureArchive(archive.root, securityFixSuites(), archive.key);
    const otherDir = join(scratch, 'other-lock');
    mkdirSync(otherDir);
    copyFileSync(specPath, join(otherDir, 'pith.yaml'));
    const relocked = await lock(join(otherDir, 'pith.yaml'), { cacheDir });
    assert.equal(relocked.lock.architectures.amd64!.packages.find((p) => p.name === 'libfoo1')!.version, '1.0-1+deb12u2');
    await rejects(verifyAttestations(ref('team/app'), alicePub, { lock: relocked.path }), 'ATTESTATION_LOCK_MISMATCH',
      /was not built from .*other-lock\/pith\.lock: the provenance's lock has sha256 [0-9a-f]{64}, pith\.lock has [0-9a-f]{64}; .*package libfoo1 \(amd64\): the provenance has 1\.0-1\+deb12u1 \(sha256 [0-9a-f]{12}…\), the lock has 1\.0-1\+deb12u2/);
  });
});

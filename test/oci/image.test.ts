import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { buildImage, buildIndex, createdFromEpoch, layerFromBlob, platformForDebianArch, type Image } from '../../src/oci/image.ts';
import { digestOf, isDigest, MediaType, type Descriptor } from '../../src/oci/digest.ts';
import { isPithError } from '../../src/errors.ts';
import { sampleEntries } from './helpers.ts';

const EPOCH = 1_700_000_000;
const dec = new TextDecoder();

/** The required members and types of the OCI image spec's descriptor. */
function assertDescriptor(d: Descriptor, mediaType: string, bytes?: Uint8Array): void {
  assert.equal(d.mediaType, mediaType);
  assert.ok(isDigest(d.digest), d.digest);
  assert.ok(Number.isSafeInteger(d.size) && d.size >= 0);
  if (bytes) {
    assert.equal(d.digest, digestOf(bytes), 'digest of the exact bytes');
    assert.equal(d.size, bytes.byteLength, 'size of the exact bytes');
  }
}

async function sampleImage(arch = 'amd64'): Promise<Image> {
  return buildImage({
    layers: [
      { entries: sampleEntries(), comment: 'libc6 2.36-9, base-files 12.4' },
      { entries: [{ type: 'file', path: '/app', mode: 0o755, uid: 0, gid: 0, mtime: 0, content: new TextEncoder().encode('app') }], comment: 'files from pith.yaml' },
    ],
    config: {
      architecture: arch, os: 'linux', user: '65532', env: ['PATH=/usr/local/bin:/usr/bin:/bin'],
      entrypoint: ['/app'], cmd: ['--help'], workingDir: '/home/nonroot', exposedPorts: [8080, '53/udp'], labels: { team: 'x' },
    },
    sourceDateEpoch: EPOCH,
    annotations: { 'org.opencontainers.image.title': 'sample' },
  });
}

test('config: platform, process settings, one diff_id and one history entry per layer', async () => {
  const img = await sampleImage();
  const config = JSON.parse(dec.decode(img.configBytes));
  assert.deepEqual(config, img.config, 'the model is the bytes');
  assert.equal(config.created, '2023-11-14T22:13:20Z');
  assert.equal(config.architecture, 'amd64');
  assert.equal(config.os, 'linux');
  assert.equal(config.variant, undefined);
  assert.deepEqual(config.config, {
    User: '65532', Env: ['PATH=/usr/local/bin:/usr/bin:/bin'], Entrypoint: ['/app'], Cmd: ['--help'],
    WorkingDir: '/home/nonroot', ExposedPorts: { '8080/tcp': {}, '53/udp': {} }, Labels: { team: 'x' },
  });
  assert.equal(config.rootfs.type, 'layers');
  assert.equal(config.rootfs.diff_ids.length, 2);
  for (const [i, l] of img.layers.entries()) {
    const blob = await l.bytes();
    assert.equal(config.rootfs.diff_ids[i], digestOf(gunzipSync(blob)), 'diff_id is the uncompressed tar');
    assert.equal(l.diffId, config.rootfs.diff_ids[i]);
  }
  assert.deepEqual(config.history, [
    { created: '2023-11-14T22:13:20Z', created_by: 'libc6 2.36-9, base-files 12.4' },
    { created: '2023-11-14T22:13:20Z', created_by: 'files from pith.yaml' },
  ]);
  assert.ok(dec.decode(img.configBytes).endsWith('}\n'));
});

test('manifest: schemaVersion 2, media types, descriptors matching the bytes, annotations', async () => {
  const img = await sampleImage();
  const m = JSON.parse(dec.decode(img.manifestBytes));
  assert.deepEqual(m, img.manifest);
  assert.equal(m.schemaVersion, 2);
  assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assertDescriptor(m.config, 'application/vnd.oci.image.config.v1+json', img.configBytes);
  assert.equal(m.layers.length, 2);
  for (const [i, d] of m.layers.entries()) assertDescriptor(d, 'application/vnd.oci.image.layer.v1.tar+gzip', await img.layers[i]!.bytes());
  assert.deepEqual(m.annotations, { 'org.opencontainers.image.created': '2023-11-14T22:13:20Z', 'org.opencontainers.image.title': 'sample' });
  assert.equal(img.digest, digestOf(img.manifestBytes));
  assert.deepEqual(img.platform, { architecture: 'amd64', os: 'linux' });
});

test('building twice gives the same digests', async () => {
  const [a, b] = await Promise.all([sampleImage(), sampleImage()]);
  assert.equal(a.digest, b.digest);
  assert.ok(Buffer.from(a.configBytes).equals(Buffer.from(b.configBytes)));
});

test('arm64 gets variant v8 in the config and the platform; an index lists each platform', async () => {
  const [amd, arm] = await Promise.all([sampleImage('amd64'), sampleImage('arm64')]);
  assert.equal(arm.config.variant, 'v8');
  assert.deepEqual(arm.platform, { architecture: 'arm64', os: 'linux', variant: 'v8' });
  const idx = buildIndex([amd, arm]);
  const parsed = JSON.parse(dec.decode(idx.indexBytes));
  assert.deepEqual(parsed, idx.index);
  assert.equal(parsed.schemaVersion, 2);
  assert.equal(parsed.mediaType, 'application/vnd.oci.image.index.v1+json');
  assertDescriptor(parsed.manifests[0], MediaType.manifest, amd.manifestBytes);
  assertDescriptor(parsed.manifests[1], MediaType.manifest, arm.manifestBytes);
  assert.deepEqual(parsed.manifests.map((d: Descriptor) => d.platform), [
    { architecture: 'amd64', os: 'linux' }, { architecture: 'arm64', os: 'linux', variant: 'v8' },
  ]);
  assert.equal(idx.digest, digestOf(idx.indexBytes));
  assert.throws(() => buildIndex([amd, amd]), (e) => isPithError(e, 'OCI_DUPLICATE_PLATFORM') && e.message.includes('linux/amd64'));
  assert.throws(() => buildIndex([]), (e) => isPithError(e, 'OCI_EMPTY_INDEX'));
});

test('a prebuilt layer (e.g. from the cache) is used as is', async () => {
  const img = await sampleImage();
  const blob = await img.layers[0]!.bytes();
  const again = await buildImage({
    layers: [layerFromBlob(blob, { diffId: img.layers[0]!.diffId, history: 'cached' })],
    config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: EPOCH,
  });
  assert.equal(again.manifest.layers[0]!.digest, img.manifest.layers[0]!.digest);
  assert.equal(again.config.history[0]!.created_by, 'cached');
});

test('bad config values are reported with what was expected', async () => {
  const base = { layers: [], sourceDateEpoch: EPOCH };
  await assert.rejects(buildImage({ ...base, config: { architecture: 'amd64', os: 'linux', exposedPorts: ['http'] } }), (e) => isPithError(e, 'OCI_BAD_CONFIG') && /"http"/.test(e.message));
  await assert.rejects(buildImage({ ...base, config: { architecture: 'amd64', os: 'linux', env: ['NOVALUE'] } }), (e) => isPithError(e, 'OCI_BAD_CONFIG') && /NAME=value/.test(e.message));
  await assert.rejects(buildImage({ ...base, config: { architecture: 'x86_64!', os: 'linux' } }), (e) => isPithError(e, 'OCI_BAD_CONFIG'));
  assert.throws(() => createdFromEpoch(-5), (e) => isPithError(e, 'OCI_BAD_EPOCH'));
});

test('Debian architectures map to OCI platforms', () => {
  assert.deepEqual(platformForDebianArch('arm64'), { architecture: 'arm64', os: 'linux', variant: 'v8' });
  assert.deepEqual(platformForDebianArch('ppc64el'), { architecture: 'ppc64le', os: 'linux' });
  assert.deepEqual(platformForDebianArch('armhf'), { architecture: 'arm', os: 'linux', variant: 'v7' });
  assert.throws(() => platformForDebianArch('hurd-i386'), (e) => isPithError(e, 'OCI_UNKNOWN_ARCH') && e.message.includes('"hurd-i386"'));
});

/**
 * Interoperability with the real tools, both ways, through a real docker-registry: what pith pushes (an image, a
 * multi-arch index) skopeo inspects and copies byte for byte and podman pulls and runs; what skopeo pushes — as
 * OCI or as docker schema 2 — pith pulls, and podman runs what pith wrote.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage, buildIndex, isImageIndex, type Image } from '../../src/oci/image.ts';
import { copyImage, readImage, writeImage } from '../../src/transports/transports.ts';
import { pushImage } from '../../src/registry/push.ts';
import { readRemote } from '../../src/registry/pull.ts';
import { DockerMediaType } from '../../src/oci/digest.ts';
import { missingTools } from '../fixtures/apt.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { assertRan, exec, podmanRun, runtimeMissing, skopeoInspect } from '../fixtures/runtimes.ts';
import { EPOCH, file, sampleImage } from './helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-interop-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const skopeoSkip = registryMissing() ?? runtimeMissing('skopeo');
const podmanSkip = skopeoSkip ?? runtimeMissing('podman') ?? missingTools({ gcc: 'gcc' });
const HELLO = 'hello from a pith image\n';

/** An amd64 image whose entrypoint is a static C program printing HELLO: it runs with nothing else in the image. */
async function runnableImage(): Promise<Image> {
  const dir = mkdtempSync(join(scratch, 'prog-'));
  writeFileSync(join(dir, 'hello.c'), `#include <stdio.h>\nint main(void) { fputs(${JSON.stringify(HELLO)}, stdout); return 0; }\n`);
  assertRan(await exec('gcc', ['-static', '-O2', '-o', join(dir, 'hello'), join(dir, 'hello.c')]));
  return buildImage({
    layers: [{ entries: [file('/hello', readFileSync(join(dir, 'hello')), 0o755)] }],
    config: { architecture: 'amd64', os: 'linux', entrypoint: ['/hello'] },
    sourceDateEpoch: EPOCH,
  });
}

const noTls = ['--tls-verify=false'];

describe('skopeo reads what pith pushes', { skip: skopeoSkip }, () => {
  let registry: Registry;
  before(async () => { registry = await Registry.start(join(scratch, 'registry-skopeo')); });
  after(() => registry?.stop());

  it('skopeo inspect sees the digest; skopeo copy gets the same manifest and config bytes', async () => {
    const img = await sampleImage('interop');
    await pushImage(`${registry.host}/pith/app:1`, img);
    const info = await skopeoInspect(`docker://${registry.host}/pith/app:1`, noTls);
    assert.equal(info.Digest, img.digest);
    assert.deepEqual(info.Layers, img.layers.map((l) => l.digest));
    const out = join(scratch, 'skopeo-copy');
    assertRan(await exec('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/pith/app:1`, `oci:${out}:x`]));
    const copied = await readImage(`oci:${out}:x`) as Image;
    assert.deepEqual(copied.manifestBytes, img.manifestBytes);
    assert.deepEqual(copied.configBytes, img.configBytes);
  });

  it('an index pith pushed: skopeo --raw gives its bytes, and each platform by --override-arch', async () => {
    const idx = buildIndex([await sampleImage('multi', 'amd64'), await sampleImage('multi', 'arm64')]);
    await pushImage(`${registry.host}/pith/multi:1`, idx);
    const raw = assertRan(await exec('skopeo', ['inspect', '--raw', ...noTls, `docker://${registry.host}/pith/multi:1`]));
    assert.equal(raw, new TextDecoder().decode(idx.indexBytes));
    const arm = await skopeoInspect(`docker://${registry.host}/pith/multi:1`, [...noTls, '--override-arch', 'arm64']);
    assert.equal(arm.Architecture, 'arm64');
    assert.deepEqual(arm.Layers, idx.images[1]!.layers.map((l) => l.digest));
  });

  it('pith pulls what skopeo pushed, as OCI and as docker schema 2, every digest as skopeo reports it', async () => {
    const img = await sampleImage('from-skopeo');
    const layout = join(scratch, 'skopeo-src');
    await writeImage(`oci:${layout}:v1`, img);
    assertRan(await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${registry.host}/skopeo/oci:1`]));
    assertRan(await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:v1`, `docker://${registry.host}/skopeo/v2s2:1`]));
    for (const repo of ['skopeo/oci', 'skopeo/v2s2']) {
      const info = await skopeoInspect(`docker://${registry.host}/${repo}:1`, noTls);
      const pulled = await readRemote(`${registry.host}/${repo}:1`) as Image;
      assert.equal(pulled.digest, info.Digest, repo);
      assert.deepEqual(pulled.layers.map((l) => l.diffId), img.layers.map((l) => l.diffId), repo);
    }
    const v2s2 = await readRemote(`${registry.host}/skopeo/v2s2:1`) as Image;
    assert.equal(v2s2.manifest.mediaType, DockerMediaType.manifest);
  });
});

describe('podman runs what pith pushes, and what pith pulled from skopeo', { skip: podmanSkip }, () => {
  let registry: Registry;
  let img: Image;
  before(async () => {
    registry = await Registry.start(join(scratch, 'registry-podman'));
    img = await runnableImage();
  });
  after(() => registry?.stop());

  it('podman run docker://… of the image pith pushed', async () => {
    await pushImage(`${registry.host}/pith/hello:1`, img);
    const out = assertRan(await podmanRun(`docker://${registry.host}/pith/hello:1`, join(scratch, 'podman-1'), [], noTls));
    assert.equal(out, HELLO);
  });

  it('podman run of an index pith pushed picks the amd64 image', async () => {
    const arm = await buildImage({ layers: [{ entries: [file('/hello', 'not for this machine', 0o755)] }], config: { architecture: 'arm64', os: 'linux', entrypoint: ['/hello'] }, sourceDateEpoch: EPOCH });
    await pushImage(`${registry.host}/pith/hello-multi:1`, buildIndex([img, arm]));
    assert.equal(assertRan(await podmanRun(`docker://${registry.host}/pith/hello-multi:1`, join(scratch, 'podman-2'), [], noTls)), HELLO);
  });

  it('skopeo pushes (OCI and docker schema 2), pith pulls to oci-archive and docker-archive, podman runs them', async () => {
    const layout = join(scratch, 'hello-src');
    await writeImage(`oci:${layout}:v1`, img);
    assertRan(await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${registry.host}/skopeo/hello:1`]));
    assertRan(await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:v1`, `docker://${registry.host}/skopeo/hello-v2s2:1`]));
    const archive = join(scratch, 'hello.tar');
    const pulled = await copyImage(`docker://${registry.host}/skopeo/hello:1`, `oci-archive:${archive}`);
    assert.equal(pulled.digest, img.digest, 'skopeo kept the OCI manifest as it was');
    assert.equal(assertRan(await podmanRun(`oci-archive:${archive}`, join(scratch, 'podman-3'))), HELLO);
    const dockerArchive = join(scratch, 'hello-v2s2.tar');
    const x = await readRemote(`${registry.host}/skopeo/hello-v2s2:1`);
    assert.ok(!isImageIndex(x));
    await writeImage(`docker-archive:${dockerArchive}:hello:v2s2`, x);
    assert.equal(assertRan(await podmanRun(`docker-archive:${dockerArchive}`, join(scratch, 'podman-4'))), HELLO);
  });
});

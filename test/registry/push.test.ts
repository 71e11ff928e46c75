/**
 * Pushing to and pulling from a real registry (docker-registry, anonymous): images and indexes by tag and by
 * digest, chunked uploads, re-pushes that send nothing, cross-repository mounts, and pulls that read back the
 * very bytes that were pushed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildIndex, isImageIndex, type Image } from '../../src/oci/image.ts';
import { copyImage, readImage, writeImage } from '../../src/transports/transports.ts';
import { pushImage } from '../../src/registry/push.ts';
import { readRemote } from '../../src/registry/pull.ts';
import type { RegistryOptions } from '../../src/registry/client.ts';
import { isPithError } from '../../src/errors.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { bigImage, sampleImage } from './helpers.ts';
import { streamOnly } from '../oci/helpers.ts';

const skip = registryMissing();
const scratch = mkdtempSync(join(tmpdir(), 'pith-push-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Registry state the tests read straight from the registry, not through pith. */
async function registryManifest(registry: Registry, repo: string, ref: string): Promise<{ status: number; digest: string | null; body: Buffer }> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${ref}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' } });
  return { status: res.status, digest: res.headers.get('docker-content-digest'), body: Buffer.from(await res.arrayBuffer()) };
}

describe('push and pull against docker-registry', { skip }, () => {
  let registry: Registry;
  // Separate options objects: each test gets its own client state (pings, tokens), as separate pith runs would.
  const fresh = (extra: RegistryOptions = {}): RegistryOptions => ({ ...extra });
  before(async () => { registry = await Registry.start(join(scratch, 'registry')); });
  after(() => registry?.stop());

  it('pushes an image by tag: every blob uploaded, the manifest stored byte for byte under its digest', async () => {
    const img = await sampleImage('push');
    const summary = await pushImage(`${registry.host}/team/app:1.0`, img, fresh());
    assert.deepEqual(summary, {
      reference: `${registry.host}/team/app:1.0`,
      digest: img.digest,
      blobs: { total: 3, uploaded: 3, skipped: 0, mounted: 0 },
      bytesSent: img.configBytes.byteLength + img.layers.reduce((n, l) => n + l.size, 0),
      manifests: { pushed: 1, skipped: 0 },
      resumed: 0,
      restarted: 0,
    });
    const stored = await registryManifest(registry, 'team/app', '1.0');
    assert.equal(stored.digest, img.digest);
    assert.deepEqual(new Uint8Array(stored.body), img.manifestBytes);
  });

  it('a re-push uploads zero blobs and sends no manifest', async () => {
    const img = await sampleImage('again');
    await pushImage(`${registry.host}/team/again:1`, img, fresh());
    const again = await pushImage(`${registry.host}/team/again:1`, img, fresh());
    assert.deepEqual([again.blobs, again.bytesSent, again.manifests], [{ total: 3, uploaded: 0, skipped: 3, mounted: 0 }, 0, { pushed: 0, skipped: 1 }]);
  });

  it('pulls back the same manifest, config and layer bytes', async () => {
    const img = await sampleImage('pull');
    await pushImage(`${registry.host}/team/pull:1`, img, fresh());
    const back = await readRemote(`${registry.host}/team/pull:1`, fresh()) as Image;
    assert.equal(back.digest, img.digest);
    assert.deepEqual(back.manifestBytes, img.manifestBytes);
    assert.deepEqual(back.configBytes, img.configBytes);
    assert.deepEqual(back.platform, img.platform);
    for (const [i, l] of back.layers.entries()) assert.deepEqual(await l.bytes(), await img.layers[i]!.bytes());
  });

  it('a layer larger than the chunk size goes in PATCH chunks and arrives whole', async () => {
    const img = await bigImage(600_000);
    const summary = await pushImage(`${registry.host}/team/big:1`, img, fresh({ chunkSize: 1 << 17 }));
    assert.equal(summary.blobs.uploaded, 4);
    const big = img.layers[1]!;
    const res = await fetch(`${registry.url}/v2/team/big/blobs/${big.digest}`);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), await big.bytes());
  });

  it('a layer that can only stream (too large to hold) is pushed from its stream, in PATCH chunks or in one PUT, and pulls back whole', async () => {
    const img = await bigImage(600_000, 'streamed');
    const layers = await Promise.all(img.layers.map((l) => streamOnly(l)));
    const summary = await pushImage(`${registry.host}/team/streamed:1`, { ...img, layers }, fresh({ chunkSize: 1 << 17 }));
    assert.deepEqual([summary.digest, summary.blobs.uploaded], [img.digest, 4]);
    assert.deepEqual(layers.map((l) => l.streamed), [1, 1, 1], 'each read once');
    const back = await readRemote(`${registry.host}/team/streamed:1`, fresh()) as Image;
    for (const [i, l] of back.layers.entries()) assert.deepEqual(await l.bytes(), await img.layers[i]!.bytes());
    // A stream that brings other bytes fails the push before the registry has the blob.
    const bad = await streamOnly(await (await bigImage(300_000, 'bad')).layers[1]!, { corrupt: true });
    await assert.rejects(pushImage(`${registry.host}/team/bad:1`, { ...img, layers: [img.layers[0]!, bad, img.layers[2]!] }, fresh({ chunkSize: 1 << 17 })),
      (e) => isPithError(e, 'OCI_LAYER_MISMATCH'));
    assert.equal((await fetch(`${registry.url}/v2/team/bad/blobs/${bad.digest}`, { method: 'HEAD' })).status, 404);
  });

  it('an index: shared blobs once, each platform by digest, the index by tag; pulled back whole', async () => {
    const idx = buildIndex([await sampleImage('multi', 'amd64'), await sampleImage('multi', 'arm64')]);
    const summary = await pushImage(`${registry.host}/team/multi:1`, idx, fresh());
    assert.equal(summary.blobs.total, 4, 'the two platforms share the sample layer and the marker layer');
    assert.deepEqual(summary.manifests, { pushed: 3, skipped: 0 });
    for (const img of idx.images) assert.equal((await registryManifest(registry, 'team/multi', img.digest)).status, 200);
    const back = await readRemote(`${registry.host}/team/multi:1`, fresh());
    assert.ok(isImageIndex(back));
    assert.equal(back.digest, idx.digest);
    assert.deepEqual(back.images.map((i) => i.digest), idx.images.map((i) => i.digest));
  });

  it('copies between repositories of one registry by mounting every blob', async () => {
    const img = await sampleImage('mount');
    await pushImage(`${registry.host}/team/source:1`, img, fresh());
    const r = await copyImage(`docker://${registry.host}/team/source:1`, `docker://${registry.host}/other/target:1`, { registry: fresh() });
    assert.equal(r.digest, img.digest);
    assert.deepEqual(r.push?.blobs, { total: 3, uploaded: 0, skipped: 0, mounted: 3 });
    assert.equal(r.push?.bytesSent, 0);
    assert.equal((await registryManifest(registry, 'other/target', '1')).digest, img.digest);
  });

  it('pushes by digest, and refuses a digest that names another image', async () => {
    const img = await sampleImage('digest');
    const summary = await pushImage(`${registry.host}/team/pinned@${img.digest}`, img, fresh());
    assert.equal(summary.manifests.pushed, 1);
    assert.equal((await registryManifest(registry, 'team/pinned', img.digest)).status, 200);
    const other = await sampleImage('other');
    await assert.rejects(pushImage(`${registry.host}/team/pinned@${img.digest}`, other, fresh()), (e) => isPithError(e, 'REGISTRY_BAD_REFERENCE'));
  });

  it('pull writes any local transport; a missing tag is REGISTRY_NOT_FOUND naming the repository', async () => {
    const img = await sampleImage('local');
    await writeImage(`docker://${registry.host}/team/local:1`, img, fresh());
    await copyImage(`docker://${registry.host}/team/local:1`, `oci:${join(scratch, 'pulled')}:x`, { registry: fresh() });
    assert.equal((await readImage(`oci:${join(scratch, 'pulled')}:x`)).digest, img.digest);
    await assert.rejects(readRemote(`${registry.host}/team/local:nope`, fresh()), (e) => isPithError(e, 'REGISTRY_NOT_FOUND') && e.message.includes(`${registry.host}/team/local`));
  });

  it('plain HTTP only for loopback or --insecure: a non-loopback name is never tried over HTTP', async () => {
    // "localhost" is loopback: HTTPS fails to handshake with the plain-HTTP registry, then HTTP is used.
    const img = await sampleImage('localhost');
    const port = registry.host.split(':')[1];
    assert.equal((await pushImage(`localhost:${port}/team/lh:1`, img, fresh())).digest, img.digest);
    // 0.0.0.0 reaches the registry listening on 127.0.0.1 (Linux routes it to the loopback) but is not a loopback
    // name: HTTPS fails to handshake, and the error gives the rule without a plain-HTTP attempt.
    const plain = `0.0.0.0:${port}`;
    await assert.rejects(
      pushImage(`${plain}/team/x:1`, img, fresh({ retry: { attempts: 1 } })),
      (e) => isPithError(e, 'REGISTRY_CONNECTION') && e.message.includes(`https://${plain}`) && /--insecure/.test(e.message),
    );
    // Named with --insecure, the same registry is reached over plain HTTP once HTTPS fails.
    assert.equal((await pushImage(`${plain}/team/x:1`, img, fresh({ retry: { attempts: 1 }, insecure: [plain] }))).digest, img.digest);
  });
});

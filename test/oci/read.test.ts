/**
 * Reading images back from the local transports, and copying between them: what pith (or skopeo) wrote reads back
 * as the same manifest, config and layer bytes, and any byte that does not match its digest is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage, buildIndex, isImageIndex, type Image, type ImageIndex } from '../../src/oci/image.ts';
import { digestHex } from '../../src/oci/digest.ts';
import { copyImage, readImage, writeImage } from '../../src/transports/transports.ts';
import { selectPlatform } from '../../src/oci/read.ts';
import { isPithError } from '../../src/errors.ts';
import { missingTools } from '../fixtures/apt.ts';
import { assertRan, exec } from '../fixtures/exec.ts';
import { sampleEntries, withTempDir } from './helpers.ts';

const EPOCH = 1_700_000_000;

async function image(arch = 'amd64', marker = 'one'): Promise<Image> {
  return buildImage({
    layers: [
      { entries: sampleEntries(), comment: 'base' },
      { entries: [{ type: 'file', path: '/etc/marker', mode: 0o644, uid: 0, gid: 0, mtime: 0, content: new TextEncoder().encode(marker) }] },
    ],
    config: { architecture: arch, os: 'linux', entrypoint: ['/usr/bin/hello'] },
    sourceDateEpoch: EPOCH,
  });
}

/** Same manifest, config and layer bytes. */
async function assertSameImage(actual: Image | ImageIndex, expected: Image | ImageIndex): Promise<void> {
  assert.equal(actual.digest, expected.digest);
  const a = isImageIndex(actual) ? actual.images : [actual];
  const e = isImageIndex(expected) ? expected.images : [expected];
  assert.equal(a.length, e.length);
  for (const [i, img] of a.entries()) {
    assert.deepEqual(img.manifestBytes, e[i]!.manifestBytes);
    assert.deepEqual(img.configBytes, e[i]!.configBytes);
    assert.deepEqual(img.platform, e[i]!.platform);
    for (const [j, l] of img.layers.entries()) {
      assert.equal(l.diffId, e[i]!.layers[j]!.diffId);
      assert.deepEqual(await l.bytes(), await e[i]!.layers[j]!.bytes());
    }
  }
}

test('oci: and oci-archive: read back byte for byte, image or index, by tag', async () => {
  await withTempDir(async (dir) => {
    const amd = await image('amd64');
    const idx = buildIndex([amd, await image('arm64')]);
    await writeImage(`oci:${join(dir, 'layout')}:single`, amd);
    await writeImage(`oci:${join(dir, 'layout')}:multi`, idx);
    await writeImage(`oci-archive:${join(dir, 'o.tar')}`, idx);
    await assertSameImage(await readImage(`oci:${join(dir, 'layout')}:single`), amd);
    await assertSameImage(await readImage(`oci:${join(dir, 'layout')}:multi`), idx);
    await assertSameImage(await readImage(`oci-archive:${join(dir, 'o.tar')}`), idx);
    assert.equal(selectPlatform(await readImage(`oci-archive:${join(dir, 'o.tar')}`), 'linux/arm64').digest, idx.images[1]!.digest);
  });
});

test('docker-archive: the config as written, layers gzipped again with the same settings (so the same blobs)', async () => {
  await withTempDir(async (dir) => {
    const amd = await image();
    await writeImage(`docker-archive:${join(dir, 'd.tar')}:app:1`, amd);
    const back = await readImage(`docker-archive:${join(dir, 'd.tar')}:app:1`);
    assert.ok(!isImageIndex(back));
    assert.deepEqual(back.configBytes, amd.configBytes);
    assert.deepEqual(back.layers.map((l) => [l.digest, l.size, l.diffId]), amd.layers.map((l) => [l.digest, l.size, l.diffId]));
    assert.deepEqual(back.platform, amd.platform);
    await assert.rejects(readImage(`docker-archive:${join(dir, 'd.tar')}:other:1`), (e) => isPithError(e, 'OCI_NO_SUCH_TAG') && /app:1/.test(e.message));
  });
});

test('copy between any two local transports keeps the digest (docker-archive makes its own manifest)', async () => {
  await withTempDir(async (dir) => {
    const amd = await image();
    await writeImage(`oci:${join(dir, 'a')}:v1`, amd);
    const r = await copyImage(`oci:${join(dir, 'a')}:v1`, `oci-archive:${join(dir, 'b.tar')}:v2`);
    assert.deepEqual(r, { source: `oci:${join(dir, 'a')}:v1`, destination: `oci-archive:${join(dir, 'b.tar')}:v2`, digest: amd.digest });
    await copyImage(`oci-archive:${join(dir, 'b.tar')}:v2`, `docker-archive:${join(dir, 'c.tar')}:app:v3`);
    const viaDocker = await copyImage(`docker-archive:${join(dir, 'c.tar')}`, `oci:${join(dir, 'd')}`);
    const back = await readImage(`oci:${join(dir, 'd')}`) as Image;
    assert.equal(back.digest, viaDocker.digest);
    assert.deepEqual(back.configBytes, amd.configBytes);
  });
});

test('an index copies one platform with --platform; an unknown platform names the ones there are', async () => {
  await withTempDir(async (dir) => {
    const idx = buildIndex([await image('amd64'), await image('arm64')]);
    await writeImage(`oci:${join(dir, 'a')}`, idx);
    const r = await copyImage(`oci:${join(dir, 'a')}`, `docker-archive:${join(dir, 'arm.tar')}`, { platform: 'linux/arm64' });
    assert.equal(r.digest, idx.images[1]!.digest);
    await assert.rejects(copyImage(`oci:${join(dir, 'a')}`, `oci:${join(dir, 'b')}`, { platform: 'linux/s390x' }),
      (e) => isPithError(e, 'OCI_NO_SUCH_PLATFORM') && /linux\/amd64, linux\/arm64\/v8/.test(e.message));
  });
});

test('a blob that does not match its digest is refused, naming the file', async () => {
  await withTempDir(async (dir) => {
    const amd = await image();
    await writeImage(`oci:${join(dir, 'a')}`, amd);
    const layer = join(dir, 'a', 'blobs', 'sha256', digestHex(amd.layers[1]!.digest));
    const bytes = await readFile(layer);
    bytes[bytes.length - 1] ^= 1;
    await writeFile(layer, bytes);
    const back = await readImage(`oci:${join(dir, 'a')}`) as Image;
    await assert.rejects(back.layers[1]!.bytes(), (e) => isPithError(e, 'OCI_BLOB_MISMATCH') && e.message.includes(layer));
    await assert.rejects(copyImage(`oci:${join(dir, 'a')}`, `oci:${join(dir, 'b')}`), (e) => isPithError(e, 'OCI_BLOB_MISMATCH'));
  });
});

test('a layout with several images needs a tag; a missing tag names the ones there are', async () => {
  await withTempDir(async (dir) => {
    await writeImage(`oci:${join(dir, 'a')}:one`, await image('amd64', 'one'));
    await writeImage(`oci:${join(dir, 'a')}:two`, await image('amd64', 'two'));
    await assert.rejects(readImage(`oci:${join(dir, 'a')}`), (e) => isPithError(e, 'OCI_AMBIGUOUS_SOURCE') && /one, two/.test(e.message));
    await assert.rejects(readImage(`oci:${join(dir, 'a')}:three`), (e) => isPithError(e, 'OCI_NO_SUCH_TAG') && /one, two/.test(e.message));
    await assert.rejects(readImage(`oci:${join(dir, 'missing')}`), (e) => isPithError(e, 'OCI_NOT_A_LAYOUT'));
  });
});

test("what skopeo writes reads back: its oci-archive byte for byte, its uncompressed docker-archive to the same layer blobs", { skip: missingTools({ skopeo: 'skopeo' }) }, async () => {
  await withTempDir(async (dir) => {
    const amd = await image();
    await writeImage(`oci:${join(dir, 'a')}:v1`, amd);
    assertRan(await exec('skopeo', ['copy', '--quiet', `oci:${join(dir, 'a')}:v1`, `oci-archive:${join(dir, 's.tar')}:v1`]));
    assertRan(await exec('skopeo', ['copy', '--quiet', `oci:${join(dir, 'a')}:v1`, `docker-archive:${join(dir, 'd.tar')}:app:v1`]));
    await assertSameImage(await readImage(`oci-archive:${join(dir, 's.tar')}:v1`), amd);
    const fromDocker = await readImage(`docker-archive:${join(dir, 'd.tar')}`) as Image;
    assert.deepEqual(fromDocker.configBytes, amd.configBytes);
    assert.deepEqual(fromDocker.layers.map((l) => l.digest), amd.layers.map((l) => l.digest));
  });
});

test('an archive that is no tar, or is cut short, is refused as OCI_BAD_ARCHIVE; a missing one as OCI_NO_SUCH_FILE', async () => {
  await withTempDir(async (dir) => {
    await writeImage(`oci-archive:${join(dir, 'o.tar')}`, await image());
    const whole = await readFile(join(dir, 'o.tar'));
    await writeFile(join(dir, 'cut.tar'), whole.subarray(0, whole.length >> 1));
    await writeFile(join(dir, 'noise.tar'), Buffer.alloc(4096, 0x41));
    for (const name of ['cut.tar', 'noise.tar']) {
      await assert.rejects(readImage(`oci-archive:${join(dir, name)}`), (e) => isPithError(e, 'OCI_BAD_ARCHIVE') && e.message.includes(join(dir, name)));
    }
    await assert.rejects(readImage(`docker-archive:${join(dir, 'missing.tar')}`), (e) => isPithError(e, 'OCI_NO_SUCH_FILE'));
  });
});

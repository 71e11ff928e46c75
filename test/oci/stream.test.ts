/**
 * Layers too large to hold (issue 17) reach every output and every reader through `Layer.stream`: here a layer whose
 * `bytes()` throws, as one over Node's buffer limit would, is written to each transport, read back, and its files
 * read; a stream that hands out other bytes than its digest names fails the write and leaves nothing behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildImage, layerFromEntries, type Image, type Layer } from '../../src/oci/image.ts';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { readRootfs } from '../../src/oci/rootfs.ts';
import { writeLayout } from '../../src/oci/layout.ts';
import { writeOciArchive } from '../../src/oci/archive.ts';
import { writeDockerArchive } from '../../src/oci/docker-archive.ts';
import { readDockerArchive, readLayout, readOciArchive } from '../../src/oci/read.ts';
import { isPithError } from '../../src/errors.ts';
import type { FsEntry } from '../../src/fs/entry.ts';
import { readTar, sampleEntries, streamOnly, withTempDir } from './helpers.ts';

const EPOCH = 1_700_000_000;

const BIG: FsEntry = { type: 'file', path: '/opt/big.bin', mode: 0o644, uid: 0, gid: 0, mtime: 0, content: randomBytes(3 << 20) };


async function streamedImage(options: { corrupt?: boolean } = {}): Promise<{ image: Image; layer: Layer & { streamed: number }; blob: Uint8Array }> {
  const made = await layerFromEntries([BIG], { sourceDateEpoch: EPOCH, comment: 'big' });
  const blob = await made.bytes();
  const layer = await streamOnly(made, options);
  const image = await buildImage({
    layers: [{ entries: sampleEntries(), comment: 'base' }, layer],
    config: { architecture: 'amd64', os: 'linux' },
    sourceDateEpoch: EPOCH,
  });
  return { image, layer, blob };
}

test('writers stream a layer that cannot be held whole: oci:, oci-archive: and docker-archive: read back to the same image', async () => {
  await withTempDir(async (dir) => {
    const { image, layer, blob } = await streamedImage();

    await writeLayout(join(dir, 'layout'), image, { tag: 'v1' });
    assert.ok((await readFile(join(dir, 'layout', 'blobs', 'sha256', digestHex(layer.digest)))).equals(blob));
    assert.equal((await readLayout(join(dir, 'layout'))).digest, image.digest);

    await writeOciArchive(join(dir, 'a.tar'), image, { tag: 'v1' });
    const members = await readTar(await readFile(join(dir, 'a.tar')));
    assert.ok(members.find((m) => m.name === `blobs/sha256/${digestHex(layer.digest)}`)!.content.equals(blob));
    assert.equal((await readOciArchive(join(dir, 'a.tar'))).digest, image.digest);

    await writeDockerArchive(join(dir, 'd.tar'), image, { reference: 'pith/big' });
    const docker = await readTar(await readFile(join(dir, 'd.tar')));
    const tar = docker.find((m) => m.name === `${digestHex(layer.diffId)}.tar`)!.content;
    assert.ok(tar.equals(gunzipSync(blob)), 'the uncompressed layer, as docker load wants it');
    assert.deepEqual((await readDockerArchive(join(dir, 'd.tar'))).layers.map((l) => l.diffId), image.layers.map((l) => l.diffId));

    assert.equal(layer.streamed, 3, 'one pass each');

    // A layer read from elsewhere has no uncompressed size: the docker-archive writer measures it first.
    const { uncompressedSize: _, ...unmeasured } = layer;
    await writeDockerArchive(join(dir, 'e.tar'), { ...image, layers: [image.layers[0]!, unmeasured] }, { reference: 'pith/big' });
    assert.ok((await readFile(join(dir, 'e.tar'))).equals(await readFile(join(dir, 'd.tar'))));
    assert.equal(layer.streamed, 5, 'two passes');
  });
});

test('a layer whose stream brings other bytes fails each write before anything is put in place', async () => {
  await withTempDir(async (dir) => {
    const { image } = await streamedImage({ corrupt: true });
    const refused = (e: unknown) => isPithError(e) && e.code === 'OCI_LAYER_MISMATCH';
    await assert.rejects(writeLayout(join(dir, 'layout'), image), refused);
    await assert.rejects(writeOciArchive(join(dir, 'a.tar'), image), refused);
    await assert.rejects(writeDockerArchive(join(dir, 'd.tar'), image), refused);
    assert.deepEqual(await readdir(dir), [], 'no output and no temp file left');
  });
});

test('layers read back from oci:, oci-archive: and docker-archive: stream out of their files, checked as they are read', async () => {
  await withTempDir(async (dir) => {
    const { image, layer, blob } = await streamedImage();
    await writeLayout(join(dir, 'layout'), image);
    await writeOciArchive(join(dir, 'a.tar'), image);
    await writeDockerArchive(join(dir, 'd.tar'), image);
    const sources: Array<[string, Image]> = [
      ['oci', (await readLayout(join(dir, 'layout'))) as Image],
      ['oci-archive', (await readOciArchive(join(dir, 'a.tar'))) as Image],
      // Held uncompressed in the archive, compressed again as it streams: the same blob.
      ['docker-archive', await readDockerArchive(join(dir, 'd.tar'))],
    ];
    for (const [what, back] of sources) {
      const l = back.layers[1]!;
      assert.equal(l.digest, layer.digest, what);
      assert.ok(l.stream, `${what}: a stream`);
      const pieces: Uint8Array[] = [];
      for await (const c of l.stream!()) pieces.push(c);
      assert.ok(pieces.length > 1, `${what}: in pieces`);
      assert.ok(Buffer.concat(pieces).equals(blob), what);
    }

    // A blob changed on disk: the stream fails before handing out its last piece.
    const file = join(dir, 'layout', 'blobs', 'sha256', digestHex(layer.digest));
    const changed = Buffer.from(blob);
    changed[changed.length - 1] ^= 1;
    await writeFile(file, changed);
    let received = 0;
    await assert.rejects((async () => {
      for await (const c of ((await readLayout(join(dir, 'layout'))) as Image).layers[1]!.stream!()) received += c.byteLength;
    })(), (e) => isPithError(e, 'OCI_BLOB_MISMATCH') && e.message.includes(file));
    assert.ok(received < blob.byteLength, 'the last piece is held back');
    await rm(file);
    await assert.rejects(writeOciArchive(join(dir, 'b.tar'), await readLayout(join(dir, 'layout'))), (e) => isPithError(e, 'OCI_MISSING_BLOB'));
  });
});

test('readRootfs streams each layer: every file hashed on the way, only small files (or those asked for) kept', async () => {
  const { image, layer } = await streamedImage();
  const big = BIG as Extract<FsEntry, { type: 'file' }>;
  const fs = await readRootfs(image);
  const f = fs.files.get('/opt/big.bin')!;
  assert.deepEqual([f.type, f.size, fs.digest(f)], ['file', 3 << 20, digestOf(big.content as Uint8Array)]);
  assert.equal(fs.readFile('/opt/big.bin'), undefined, 'over 1 MiB: not kept');
  assert.equal(fs.readText('/usr/bin/hello'), '#!/bin/sh\necho hello\n', 'small files are kept');
  assert.equal(fs.digest(fs.files.get('/usr/bin/aa-hello')!), digestOf('#!/bin/sh\necho hello\n'), 'a hardlink has its target\'s digest');
  assert.equal(fs.layers[1]!.uncompressedSize, layer.uncompressedSize);
  assert.equal(layer.streamed, 1);

  const chosen = await readRootfs(image, 'chosen', { keep: (path) => path === '/opt/big.bin', sha1: (l) => l.createdBy === 'big' });
  assert.ok(Buffer.from(chosen.readFile('/opt/big.bin')!).equals(big.content as Uint8Array));
  assert.equal(chosen.readFile('/usr/bin/hello'), undefined);
  assert.equal(chosen.files.get('/opt/big.bin')!.sha1, createHash('sha1').update(big.content as Uint8Array).digest('hex'));
  assert.equal(chosen.files.get('/usr/bin/hello')!.sha1, undefined, 'SHA-1 only for the layers asked for');

  // A layer whose blob is not what its digest names fails the read with the stream's error.
  const { image: bad } = await streamedImage({ corrupt: true });
  await assert.rejects(readRootfs(bad), (e) => isPithError(e, 'OCI_LAYER_MISMATCH'));
});

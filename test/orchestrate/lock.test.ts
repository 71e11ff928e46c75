// Locks beside their specs: each spec's lock is named after it, so two specs in one directory never share one; a
// spec edited since its lock is re-locked by `build` with every other pin kept (as cargo and npm do), unless
// `--locked` asks for a failure instead (CI).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build, isPithError, lock, lockPathFor, readLock, type LockFile } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { pithCli } from '../fixtures/exec.ts';
import { buildFixtureArchive, fixtureSpec, sampleSuites, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { securityFixSuites } from '../fixtures/security-fix.ts';

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' });
const scratch = mkdtempSync(join(tmpdir(), 'pith-lock-naming-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const cacheDir = join(scratch, 'cache');

/** name version of every package of a lock's amd64 closure. */
const versions = (l: LockFile) => l.architectures.amd64!.packages.map((p) => `${p.name} ${p.version}`);

describe('lock files', { skip }, () => {
  let server: FixtureArchive;
  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
  });
  after(() => server?.close());

  it('are named after their spec: two specs in one directory lock and build independently', async () => {
    assert.equal(lockPathFor('/p/two.yaml'), '/p/two.lock');
    assert.equal(lockPathFor('/p/pith.yaml'), '/p/pith.lock');
    assert.equal(lockPathFor('/p/x.yml'), '/p/x.lock');
    const dir = join(scratch, 'two-specs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'one.yaml'), fixtureSpec(server, 'packages: [libc6]\n', 'one'));
    writeFileSync(join(dir, 'two.yaml'), fixtureSpec(server, 'packages: [app]\n', 'two'));
    const one = await build(join(dir, 'one.yaml'), { cacheDir, outputs: [`oci:${join(dir, 'out-one')}:one`] });
    const two = await build(join(dir, 'two.yaml'), { cacheDir, outputs: [`oci:${join(dir, 'out-two')}:two`] });
    assert.equal(one.lockPath, join(dir, 'one.lock'));
    assert.equal(two.lockPath, join(dir, 'two.lock'));
    assert.ok(!existsSync(join(dir, 'pith.lock')));
    assert.deepEqual(readLock(join(dir, 'one.lock')).spec.inputs.packages, ['libc6']);
    // Building each again reads its own lock: neither is stale, neither is rewritten.
    const mtime = statSync(join(dir, 'one.lock')).mtimeMs;
    assert.equal((await build(join(dir, 'one.yaml'), { cacheDir, outputs: [`oci:${join(dir, 'out-one')}:one`] })).digest, one.digest);
    assert.equal((await build(join(dir, 'two.yaml'), { cacheDir, outputs: [`oci:${join(dir, 'out-two')}:two`] })).digest, two.digest);
    assert.equal(statSync(join(dir, 'one.lock')).mtimeMs, mtime);
  });

  it('read the old pith.lock of a spec made before they were named after it, only when it is that spec\'s', async () => {
    const dir = join(scratch, 'legacy');
    mkdirSync(dir);
    writeFileSync(join(dir, 'two.yaml'), fixtureSpec(server, 'packages: [app]\n', 'two'));
    await lock(join(dir, 'two.yaml'), { cacheDir });
    renameSync(join(dir, 'two.lock'), join(dir, 'pith.lock')); // as an older pith wrote it
    const legacy = readFileSync(join(dir, 'pith.lock'));
    const built = await build(join(dir, 'two.yaml'), { cacheDir, outputs: [`oci:${join(dir, 'out')}:two`] });
    assert.equal(built.lockPath, join(dir, 'pith.lock'));
    assert.equal(built.lockCreated, false);
    // Another spec in the directory never takes it: it gets a lock of its own, and pith.lock is untouched.
    writeFileSync(join(dir, 'one.yaml'), fixtureSpec(server, 'packages: [libc6]\n', 'one'));
    const other = await build(join(dir, 'one.yaml'), { cacheDir, outputs: [`oci:${join(dir, 'out-one')}:one`] });
    assert.equal(other.lockPath, join(dir, 'one.lock'));
    assert.equal(other.lockCreated, true);
    assert.deepEqual(readFileSync(join(dir, 'pith.lock')), legacy);
    // Once a pith.yaml lives there, pith.lock is its lock: two.yaml then locks afresh under its own name.
    writeFileSync(join(dir, 'pith.yaml'), fixtureSpec(server, 'packages: [libc6]\n', 'main'));
    const again = await build(join(dir, 'two.yaml'), { cacheDir, outputs: [`oci:${join(dir, 'out')}:two`] });
    assert.equal(again.lockPath, join(dir, 'two.lock'));
    assert.equal(again.lockCreated, true);
  });

  describe('after the spec was edited', () => {
    let dir: string;
    let spec: string;
    let first: LockFile;
    before(async () => {
      dir = join(scratch, 'edited');
      mkdirSync(dir);
      spec = join(dir, 'pith.yaml');
      writeFileSync(spec, fixtureSpec(server, 'packages: [libfoo1]\n'));
      await lock(spec, { cacheDir });
      first = readLock(join(dir, 'pith.lock'));
      // The archive moves on meanwhile: a fresh lock would now take libfoo1's newer security version.
      await buildFixtureArchive(server.root, securityFixSuites(), server.key);
      writeFileSync(spec, readFileSync(spec, 'utf8').replace('packages: [libfoo1]', 'packages: [libfoo1, mawk]'));
    });
    after(async () => {
      await buildFixtureArchive(server.root, sampleSuites(), server.key);
    });

    it('--locked fails naming the change (exit 3) and leaves the lock as it was', async () => {
      const before = readFileSync(join(dir, 'pith.lock'));
      await assert.rejects(build(spec, { cacheDir, locked: true, outputs: [`oci:${join(dir, 'never')}:app`] }), (e) =>
        isPithError(e, 'LOCK_STALE') && e.message.includes('--locked') && e.message.includes('packages added: mawk'));
      const cli = await pithCli(['build', dir, '--locked', '--cache', cacheDir, '--output', `oci:${join(dir, 'never')}:app`]);
      assert.equal(cli.code, 3, cli.stderr);
      assert.match(cli.stderr, /^pith: LOCK_STALE: .*pith\.lock: --locked: the lock was made from a different spec/m);
      assert.deepEqual(readFileSync(join(dir, 'pith.lock')), before);
      assert.ok(!existsSync(join(dir, 'never')));
    });

    it('build re-locks minimally: the new package is added, every other pin kept byte for byte, the change printed', async () => {
      const cli = await pithCli(['build', dir, '--cache', cacheDir, '--output', `oci:${join(dir, 'out')}:app`]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /^re-locked .*pith\.lock \(packages added: mawk\):\n {2}amd64 mawk \(new\) -> 1\.3\.4\.20200120-3\.1$/m);
      const after = readLock(join(dir, 'pith.lock'));
      assert.deepEqual(versions(after), [...versions(first), 'mawk 1.3.4.20200120-3.1'].sort());
      const kept = (l: LockFile) => JSON.stringify(l.architectures.amd64!.packages.filter((p) => p.name !== 'mawk'));
      assert.equal(kept(after), kept(first), 'libfoo1 stays at its locked version though a newer one is served');
      // The lock is current now: the next build neither re-locks nor rewrites it.
      const mtime = statSync(join(dir, 'pith.lock')).mtimeMs;
      const again = await build(spec, { cacheDir, outputs: [`oci:${join(dir, 'out')}:app`] });
      assert.equal(again.relocked, undefined);
      assert.equal(statSync(join(dir, 'pith.lock')).mtimeMs, mtime);
    });
  });

  describe('after the spec asked for a package that needs a newer locked one', () => {
    let dir: string;
    let first: LockFile;
    before(async () => {
      dir = join(scratch, 'needs-newer');
      mkdirSync(dir);
      writeFileSync(join(dir, 'web.yaml'), fixtureSpec(server, 'packages: [libfoo1, libbar2]\n', 'web'));
      await lock(join(dir, 'web.yaml'), { cacheDir });
      first = readLock(join(dir, 'web.lock'));
      // Meanwhile libfoo1 and libbar2 have newer versions, and foo-tools arrives needing the newest libfoo1.
      const suites = securityFixSuites();
      suites[0]!.components.main!.push({
        name: 'foo-tools', version: '1.0-1', source: 'foo', depends: 'libfoo1 (>= 1.0-1+deb12u2), libc6 (>= 2.34)',
        files: { '/usr/bin/foo': { content: '#!/bin/sh\n', mode: 0o755 } },
      });
      await buildFixtureArchive(server.root, suites, server.key);
      writeFileSync(join(dir, 'web.yaml'), fixtureSpec(server, 'packages: [libfoo1, libbar2, foo-tools]\n', 'web'));
    });
    after(async () => {
      await buildFixtureArchive(server.root, sampleSuites(), server.key);
    });

    it('moves only what the new package needs (libfoo1), not libbar2, and reports it in --json', async () => {
      const cli = await pithCli(['build', join(dir, 'web.yaml'), '--json', '--cache', cacheDir, '--output', `oci:${join(dir, 'out')}:web`]);
      assert.equal(cli.code, 0, cli.stderr);
      const result = JSON.parse(cli.stdout) as { lockPath: string; relocked: { specChanges: string[]; changes: unknown[] } };
      assert.equal(result.lockPath, join(dir, 'web.lock'));
      assert.deepEqual(result.relocked, {
        specChanges: ['packages added: foo-tools'],
        changes: [
          { architecture: 'amd64', name: 'foo-tools', to: '1.0-1' },
          { architecture: 'amd64', name: 'libfoo1', from: '1.0-1+deb12u1', to: '1.0-1+deb12u2' },
        ],
      });
      const after = readLock(join(dir, 'web.lock'));
      const others = (l: LockFile) => JSON.stringify(l.architectures.amd64!.packages.filter((p) => p.name !== 'libfoo1' && p.name !== 'foo-tools'));
      assert.equal(others(after), others(first), 'libbar2 stays at 2.1-1 though 2.1-2 is served; every other pin is kept byte for byte');
      assert.ok(versions(after).includes('libbar2 2.1-1'));
    });
  });
});

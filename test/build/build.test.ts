import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build, isPithError } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils', gcc: 'gcc', skopeo: 'skopeo', umoci: 'umoci' });
const runcSkip = skip ?? missingTools({ runc: 'runc' });
const scratch = mkdtempSync(join(tmpdir(), 'pith-build-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? process.env });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('pith build', { skip }, () => {
  let server: FixtureArchive;
  let specDir: string;
  let spec: string;
  const cacheDir = join(scratch, 'cache');
  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
    specDir = mkdtempSync(join(scratch, 'spec-'));
    writeFileSync(join(specDir, 'hello.c'), '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("hello from pith as %d\\n", (int)getuid());return 0;}\n');
    run('gcc', ['-static', '-O2', '-o', join(specDir, 'hello'), join(specDir, 'hello.c')]);
    spec = join(specDir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server, 'packages: [app]\nfiles:\n  - from: hello\n    to: /usr/local/bin/hello\nentrypoint: [/usr/local/bin/hello]\n', 'hello'));
  });
  after(() => server?.close());

  it('builds an OCI layout that skopeo reads and umoci unpacks into the expected root filesystem', async () => {
    const out = join(scratch, 'out1');
    const result = await build(spec, { cacheDir, outputs: [`oci:${out}:hello`] });
    assert.equal(result.lockCreated, true, 'a missing lock is created');
    assert.match(result.digest, /^sha256:[0-9a-f]{64}$/);
    const inspect = JSON.parse(run('skopeo', ['inspect', `oci:${out}:hello`]));
    assert.equal(inspect.Architecture, 'amd64');
    const config = JSON.parse(run('skopeo', ['inspect', '--config', '--raw', `oci:${out}:hello`]));
    assert.equal(config.config.User, '65532:65532');
    assert.deepEqual(config.config.Entrypoint, ['/usr/local/bin/hello']);
    assert.ok(config.config.Env.some((e: string) => e.startsWith('PATH=/usr/local/sbin:')));

    const bundle = join(scratch, 'bundle1');
    run('umoci', ['unpack', '--rootless', '--image', `${out}:hello`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    assert.equal(readlinkSync(join(rootfs, 'bin')), 'usr/bin');
    assert.ok(statSync(join(rootfs, 'usr/bin/app')).isFile());
    assert.match(readFileSync(join(rootfs, 'etc/passwd'), 'utf8'), /^nonroot:x:65532:65532:/m);
    assert.equal(statSync(join(rootfs, 'tmp')).mode & 0o7777, 0o1777);
    const status = readFileSync(join(rootfs, 'var/lib/dpkg/status.d/libfoo1'), 'utf8');
    assert.match(status, /^Package: libfoo1$/m);
    assert.match(status, /^Version: 1\.0-1\+deb12u1$/m);
    assert.match(status, /^Source: foo$/m);
    assert.ok(statSync(join(rootfs, 'usr/share/doc/app/copyright')).isFile(), 'copyright files always stay');
    // base-files is not installed, yet scanners still learn the OS and release from its files.
    assert.equal(readFileSync(join(rootfs, 'etc/debian_version'), 'utf8'), '12.5\n');
    assert.equal(readFileSync(join(rootfs, 'usr/lib/os-release'), 'utf8'), 'ID=debian\n');
    assert.throws(() => statSync(join(rootfs, 'var/lib/dpkg/status.d/base-files')));
    assert.throws(() => statSync(join(rootfs, 'usr/bin/deb-systemd-helper')), 'init-system-helpers is left out by default');
    assert.deepEqual(result.architectures[0]!.excluded.map((e) => e.name), ['init-system-helpers']);
    assert.ok(result.architectures[0]!.layers.some((l) => l.comment === 'source foo: libfoo1'), JSON.stringify(result.architectures[0]!.layers.map((l) => l.comment)));
    assert.equal(result.architectures[0]!.layers.at(-1)!.comment, 'files from the spec');
  });

  it('is reproducible bit for bit: another cache, TZ, umask and locale give the same digest', async () => {
    const first = await build(spec, { cacheDir, outputs: [`oci:${join(scratch, 'out2')}:hello`] });
    const script = `
      process.umask(0o077);
      const { build } = await import('pith');
      const r = await build(${JSON.stringify(spec)}, { cacheDir: ${JSON.stringify(join(scratch, 'other-cache'))}, outputs: ['oci:${join(scratch, 'out3')}:hello'] });
      console.log(r.digest);`;
    // Asynchronously: the fixture archive is served from this process.
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, TZ: 'Pacific/Chatham', LC_ALL: 'C', LANG: 'tr_TR.UTF-8' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    const digest = stdout.trim();
    assert.equal(digest, first.digest);
  });

  it('a warm rebuild reuses the cached layers; changing a spec file rebuilds', async () => {
    const warmCache = join(scratch, 'warm-cache');
    const cold = await build(spec, { cacheDir: warmCache, outputs: [`oci:${join(scratch, 'out-warm')}:hello`] });
    assert.equal(cold.architectures[0]!.cached, false);
    const warm = await build(spec, { cacheDir: warmCache, outputs: [`oci:${join(scratch, 'out-warm')}:hello`] });
    assert.equal(warm.architectures[0]!.cached, true);
    assert.equal(warm.digest, cold.digest);
    assert.deepEqual(warm.architectures[0]!.trimmed, cold.architectures[0]!.trimmed);
    const original = readFileSync(join(specDir, 'hello'));
    try {
      writeFileSync(join(specDir, 'hello'), Buffer.concat([original, Buffer.from('\0')]));
      const changed = await build(spec, { cacheDir: warmCache, outputs: [`oci:${join(scratch, 'out-warm')}:hello`] });
      assert.equal(changed.architectures[0]!.cached, false);
      assert.notEqual(changed.digest, cold.digest);
    } finally {
      writeFileSync(join(specDir, 'hello'), original);
    }
  });

  it('when one package changes, only its layer is compressed again; the image is the one a cold build makes', async () => {
    const layerCache = join(scratch, 'layer-cache');
    // The same spec twice: without the security suite (libfoo1 1.0-1), then with it (libfoo1 1.0-1+deb12u1).
    const specIn = (name: string, text: string) => {
      const dir = mkdtempSync(join(scratch, `${name}-`));
      writeFileSync(join(dir, 'pith.yaml'), text);
      return join(dir, 'pith.yaml');
    };
    const updated = fixtureSpec(server, 'packages: [app]\n');
    const before = await build(specIn('before', updated.replace('suites: [fixture, fixture-security]', 'suites: [fixture]')), {
      cacheDir: layerCache,
      outputs: [`oci:${join(scratch, 'out-before')}:app`],
    });
    assert.ok(before.architectures[0]!.layers.every((l) => !l.cached), 'a cold build compresses every layer');
    const after = await build(specIn('after', updated), { cacheDir: layerCache, outputs: [`oci:${join(scratch, 'out-after')}:app`] });
    assert.equal(after.architectures[0]!.cached, false, 'not the same build');
    const changed = after.architectures[0]!.layers.filter((l) => !l.cached);
    assert.deepEqual(changed.map((l) => l.comment), ['source foo: libfoo1']);
    const unchanged = after.architectures[0]!.layers.filter((l) => l.cached);
    assert.ok(unchanged.length >= 3);
    for (const l of unchanged) assert.ok(before.architectures[0]!.layers.some((b) => b.digest === l.digest), `${l.comment}: the blob of the earlier build`);

    const cold = await build(specIn('cold', updated), { cacheDir: join(scratch, 'layer-cache-cold'), outputs: [`oci:${join(scratch, 'out-cold')}:app`] });
    assert.equal(cold.digest, after.digest);
    assert.deepEqual(cold.architectures[0]!.layers.map((l) => l.digest), after.architectures[0]!.layers.map((l) => l.digest));
  });

  it('runs under runc', { skip: runcSkip }, async () => {
    const out = join(scratch, 'out-run');
    await build(spec, { cacheDir, outputs: [`oci:${out}:hello`] });
    const bundle = join(scratch, 'bundle-run');
    run('umoci', ['unpack', '--image', `${out}:hello`, bundle]);
    const configPath = join(bundle, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    config.process.terminal = false;
    writeFileSync(configPath, JSON.stringify(config));
    const id = `pith-test-${process.pid}`;
    const r = spawnSync('runc', ['run', '-b', bundle, id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    spawnSync('runc', ['delete', '-f', id]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hello from pith as 65532\n');
  });

  it('the spec\'s timezone reaches the build: a zone without tzdata in the image is refused by name', async () => {
    const tz = join(specDir, 'tz.yaml');
    writeFileSync(tz, readFileSync(spec, 'utf8') + 'timezone: Europe/Paris\n');
    await assert.rejects(build(tz, { cacheDir, lockPath: join(specDir, 'pith.lock'), outputs: [`oci:${join(scratch, 'never-tz')}`] }), (e) =>
      isPithError(e, 'TIMEZONE_NO_TZDATA') && e.message.includes('Europe/Paris'));
  });

  it('a files: source that does not exist, or a destination that escapes, is refused by name', async () => {
    const bad = join(specDir, 'bad.yaml');
    writeFileSync(bad, readFileSync(spec, 'utf8').replace('from: hello', 'from: nope'));
    await assert.rejects(build(bad, { cacheDir, lockPath: join(specDir, 'pith.lock'), outputs: [`oci:${join(scratch, 'never')}`] }), (e) =>
      isPithError(e, 'SPEC_FILE_MISSING') && e.message.includes('files[0]') && e.message.includes('nope'));
    writeFileSync(bad, readFileSync(spec, 'utf8').replace('to: /usr/local/bin/hello', 'to: /../../etc/evil'));
    await assert.rejects(build(bad, { cacheDir, lockPath: join(specDir, 'pith.lock'), outputs: [`oci:${join(scratch, 'never')}`] }), (e) =>
      isPithError(e, 'PATH_ESCAPES') && e.message.includes('/../../etc/evil'));
    assert.throws(() => statSync(join(scratch, 'never')));
  });
});

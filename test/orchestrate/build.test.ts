import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build, isPithError, lock, readRootfs, type ErrorCode, type Image } from 'pith';
import { AVAILABLE_LAYER } from '../../src/assemble/layer-names.ts';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, sampleSuites, startFixtureArchive, type FixtureArchive, type FixturePackage } from '../fixtures/archive.ts';
import { assertRan, runcRun, runtimeMissing, unpackBundle } from '../fixtures/runtimes.ts';


const bin = new URL('../../bin/pith.js', import.meta.url).pathname;

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils', gcc: 'gcc', skopeo: 'skopeo', umoci: 'umoci' });
const runcSkip = skip ?? runtimeMissing('runc');
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
    assert.match(readFileSync(join(rootfs, 'var/lib/dpkg/available'), 'utf8'), /^Package: libfoo1\nVersion: 1\.0-1\+deb12u1\nArchitecture: amd64\nFilename: \S+\nSize: \d+\nSHA256: [0-9a-f]{64}$/m);
    assert.equal(readFileSync(join(rootfs, 'var/lib/dpkg/info/app.list'), 'utf8').split('\n')[0], '/.');
    assert.ok(statSync(join(rootfs, 'usr/share/doc/app/copyright')).isFile(), 'copyright files always stay');
    // base-files is not installed, yet scanners still learn the OS and release from its files.
    assert.equal(readFileSync(join(rootfs, 'etc/debian_version'), 'utf8'), '12.5\n');
    assert.equal(readFileSync(join(rootfs, 'usr/lib/os-release'), 'utf8'), 'ID=debian\n');
    assert.throws(() => statSync(join(rootfs, 'var/lib/dpkg/status.d/base-files')));
    assert.throws(() => statSync(join(rootfs, 'usr/bin/deb-systemd-helper')), 'init-system-helpers is left out by default');
    assert.deepEqual(result.architectures[0]!.excluded.map((e) => e.name), ['init-system-helpers']);
    assert.ok(result.architectures[0]!.layers.some((l) => l.comment === 'source foo: libfoo1'), JSON.stringify(result.architectures[0]!.layers.map((l) => l.comment)));
    assert.equal(result.architectures[0]!.layers.at(-1)!.comment, 'files from the spec');
    // mawk's postinst registers awk with update-alternatives: the links it would have made are there.
    assert.equal(readlinkSync(join(rootfs, 'usr/bin/awk')), '/etc/alternatives/awk');
    assert.equal(readlinkSync(join(rootfs, 'etc/alternatives/awk')), '/usr/bin/mawk');
    assert.equal(readlinkSync(join(rootfs, 'usr/bin/nawk')), '/etc/alternatives/nawk');
    assert.match(readFileSync(join(rootfs, 'var/lib/dpkg/alternatives/awk'), 'utf8'), /^auto\n\/usr\/bin\/awk\nawk\.1\.gz\n/);
    const mawk = result.architectures[0]!.scripts.filter((s) => s.package === 'mawk');
    assert.deepEqual(mawk.map((s) => [s.script, s.covered?.replace(/:.*/, '')]), [['postinst', 'update-alternatives links written by pith (awk)'], ['prerm', 'not needed']]);
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
    // The package's own layer, and the few-KB record of every .deb's SHA256 (/var/lib/dpkg/available).
    assert.deepEqual(changed.map((l) => l.comment), ['source foo: libfoo1', AVAILABLE_LAYER]);
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
    await unpackBundle(`${out}:hello`, bundle);
    assert.equal(assertRan(await runcRun(bundle)), 'hello from pith as 65532\n');
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

  /** The fixture spec with one edit, in a directory of its own beside a copy of its program. */
  function specVariant(prefix: string, find: string, replace: string): { dir: string; spec: string } {
    const dir = mkdtempSync(join(scratch, prefix));
    writeFileSync(join(dir, 'hello'), readFileSync(join(specDir, 'hello')));
    writeFileSync(join(dir, 'pith.yaml'), readFileSync(spec, 'utf8').replace(find, replace));
    return { dir, spec: join(dir, 'pith.yaml') };
  }

  it('a files: owner may name any built-in account: nobody is 65534:65534, as in the image\'s /etc/passwd', async () => {
    const { dir, spec: owned } = specVariant('owned-', 'to: /usr/local/bin/hello', 'to: /usr/local/bin/hello\n    owner: nobody');
    const result = await build(owned, { cacheDir, outputs: [`oci:${join(dir, 'out')}:hello`] });
    const fs = await readRootfs(result.image as Image);
    const hello = fs.files.get('/usr/local/bin/hello')!;
    assert.deepEqual([hello.uid, hello.gid], [65534, 65534]);
    assert.match(new TextDecoder().decode(fs.files.get('/etc/passwd')!.content), /^nobody:x:65534:65534:/m);
  });

  it('files: a directory copies as COPY does, reproducibly; a host path outside the spec\'s directory is refused with file:line', async () => {
    const dir = mkdtempSync(join(scratch, 'tree-'));
    mkdirSync(join(dir, 'dist', 'bin'), { recursive: true });
    mkdirSync(join(dir, 'dist', 'empty'));
    writeFileSync(join(dir, 'dist', 'bin', 'hello'), readFileSync(join(specDir, 'hello')), { mode: 0o700 });
    writeFileSync(join(dir, 'dist', 'app.conf'), 'port=8080\n', { mode: 0o600 });
    symlinkSync('bin/hello', join(dir, 'dist', 'hello'));
    const treeSpec = join(dir, 'pith.yaml');
    writeFileSync(treeSpec, fixtureSpec(server, 'packages: [app]\nfiles:\n  - from: dist\n    to: /opt/app/\n    owner: nonroot\nentrypoint: [/opt/app/hello]\n', 'hello'));
    const options = (cache: string, out: string) => ({ cacheDir: cache, outputs: [`oci:${join(dir, out)}:hello`] });
    const result = await build(treeSpec, options(cacheDir, 'out'));
    const fs = await readRootfs(result.image as Image);
    const app = [...fs.files.values()].filter((f) => f.path.startsWith('/opt/app')).map((f) => `${f.type} ${f.path} ${f.mode.toString(8)} ${f.uid}:${f.gid}${f.target ? ` -> ${f.target}` : ''}`);
    assert.deepEqual(app.sort(), [
      'dir /opt/app 755 65532:65532',
      'dir /opt/app/bin 755 65532:65532',
      'dir /opt/app/empty 755 65532:65532',
      'file /opt/app/app.conf 644 65532:65532',
      'file /opt/app/bin/hello 755 65532:65532',
      'symlink /opt/app/hello 777 65532:65532 -> bin/hello',
    ]);
    assert.deepEqual(fs.readFile('/opt/app/hello'), new Uint8Array(readFileSync(join(specDir, 'hello'))));
    // Another umask's modes, other timestamps, a cold cache: the same image.
    chmodSync(join(dir, 'dist', 'app.conf'), 0o664);
    chmodSync(join(dir, 'dist', 'bin', 'hello'), 0o775);
    for (const p of ['dist', 'dist/bin', 'dist/bin/hello', 'dist/app.conf']) utimesSync(join(dir, p), 1e9, 1e9);
    assert.equal((await build(treeSpec, options(join(dir, 'cold-cache'), 'out2'))).digest, result.digest);

    for (const [from, found] of [['../../../../../../../../../../etc/shadow', /found "(\.\.\/)+etc\/shadow", outside it/], ['shadow', /found "shadow", which resolves to \/etc\/shadow/]] as const) {
      if (from === 'shadow') symlinkSync('/etc/shadow', join(dir, 'shadow'));
      writeFileSync(treeSpec, fixtureSpec(server, `packages: [app]\nfiles:\n  - from: dist\n    to: /opt/app\n  - from: ${from}\n    to: /etc/shadow\n`, 'hello'));
      await assert.rejects(build(treeSpec, options(cacheDir, 'never')), (e) =>
        isPithError(e, 'PATH_ESCAPES') && e.message.startsWith(`${treeSpec}:13:11: files[1].from: expected a path inside the spec's directory`) && found.test(e.message));
    }
    assert.throws(() => statSync(join(dir, 'never')));
  });

  it('packages: [] builds an image of only files: (a static binary), with os-release from the pinned base-files', async () => {
    const { dir, spec: only } = specVariant('static-', 'packages: [app]', 'packages: []');
    const out = join(dir, 'out');
    const result = await build(only, { cacheDir, outputs: [`oci:${out}:hello`] });
    const lockFile = JSON.parse(readFileSync(join(dir, 'pith.lock'), 'utf8'));
    assert.deepEqual(lockFile.architectures.amd64.packages, [], 'no packages requested, none locked');
    assert.equal(lockFile.architectures.amd64.baseFiles.name, 'base-files');
    const fs = await readRootfs(result.image as Image);
    assert.ok(fs.files.get('/usr/local/bin/hello'), 'the static binary is in the image');
    assert.ok(!fs.files.get('/usr/bin/app'));
    assert.match(new TextDecoder().decode((fs.files.get('/usr/lib/os-release') ?? fs.files.get('/etc/os-release'))!.content ?? new Uint8Array()), /ID=/);
    const config = JSON.parse(run('skopeo', ['inspect', '--config', '--raw', `oci:${out}:hello`]));
    assert.deepEqual(config.config.Entrypoint, ['/usr/local/bin/hello']);
  });
});

describe('pith build: bad input', { skip }, () => {
  // Names no real file has: a package that reached the host would leave one of these behind.
  const marker = `pith-escape-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  const hostile: FixturePackage[] = [
    { name: 'evil-dotdot', version: '1.0-1', rawData: [{ name: `./usr/../../../../../../../tmp/${marker}-dotdot`, content: 'climbed out\n' }] },
    {
      name: 'evil-contained',
      version: '1.0-1',
      rawData: [
        { name: `/tmp/${marker}-absolute`, content: 'absolute\n' },
        { name: './usr/', type: 'directory', mode: 0o755 },
        { name: './usr/lib/', type: 'directory', mode: 0o755 },
        { name: './usr/lib/evil', type: 'symlink', linkname: '../../../../../../../../tmp' },
        { name: `./usr/lib/evil/${marker}-through-link`, content: 'through a link\n' },
        { name: './usr/bin/', type: 'directory', mode: 0o755 },
        { name: './usr/bin/shadow', type: 'symlink', linkname: '/etc/shadow' },
      ],
    },
    { name: 'evil-device', version: '1.0-1', rawData: [{ name: './dev/', type: 'directory', mode: 0o755 }, { name: './dev/pith-null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }] },
    // 64 MiB of zeros gzip to 64 KiB; the package claims 4 KiB installed.
    { name: 'evil-bomb', version: '1.0-1', extraFields: { 'Installed-Size': '4' }, rawData: [{ name: './usr/share/zeros', content: new Uint8Array(64 << 20) }] },
  ];
  let server: FixtureArchive;
  before(async () => {
    const suites = sampleSuites();
    suites[0]!.components.main!.push(...hostile);
    server = await startFixtureArchive(join(scratch, 'hostile-archive'), { suites });
  });
  after(() => server?.close());

  const specFor = (rest: string, name: string) => {
    const dir = mkdtempSync(join(scratch, `${name}-`));
    const path = join(dir, 'pith.yaml');
    writeFileSync(path, fixtureSpec(server, rest, name));
    return { dir, path };
  };
  const refused = async (pkg: string, code: ErrorCode, ...mentions: string[]) => {
    const { dir, path } = specFor(`packages: [${pkg}]\n`, pkg);
    const out = join(dir, 'out');
    await assert.rejects(build(path, { cacheDir: join(scratch, 'hostile-cache'), outputs: [`oci:${out}`] }), (e) => {
      assert.ok(isPithError(e, code), `expected ${code}, got ${String(e)}`);
      for (const m of [pkg, ...mentions]) assert.ok(e.message.includes(m), `"${m}" in: ${e.message}`);
      return true;
    });
    assert.ok(!existsSync(out), 'no output');
  };

  it('refuses a package whose data.tar climbs out with ../, naming it and the path; nothing reaches the host', async () => {
    await refused('evil-dotdot', 'DEB_UNSAFE_PATH', `${marker}-dotdot`, 'climbs above');
    assert.ok(!existsSync(`/tmp/${marker}-dotdot`));
  });

  it('keeps absolute paths and symlinks that point outside inside the image: the link stays a link', async () => {
    const { dir, path } = specFor('packages: [evil-contained]\n', 'contained');
    const out = join(dir, 'out');
    await build(path, { cacheDir: join(scratch, 'hostile-cache'), outputs: [`oci:${out}:x`] });
    const rootfs = join(dir, 'bundle', 'rootfs');
    run('umoci', ['unpack', '--rootless', '--image', `${out}:x`, join(dir, 'bundle')]);
    assert.equal(readFileSync(join(rootfs, 'tmp', `${marker}-absolute`), 'utf8'), 'absolute\n');
    assert.equal(readlinkSync(join(rootfs, 'usr/lib/evil')), '../../../../../../../../tmp');
    assert.equal(readFileSync(join(rootfs, 'tmp', `${marker}-through-link`), 'utf8'), 'through a link\n', 'written through the link, inside the image');
    assert.equal(readlinkSync(join(rootfs, 'usr/bin/shadow')), '/etc/shadow');
    for (const leak of ['absolute', 'through-link']) assert.ok(!existsSync(`/tmp/${marker}-${leak}`), `nothing on the host: ${leak}`);
  });

  it('refuses device nodes, naming the package and the path', async () => {
    // Refused rather than dropped: Debian packages ship no device nodes (the runtime provides /dev), so one is a
    // hostile or foreign package, and an image silently missing a file its package expects would fail later.
    await refused('evil-device', 'DEB_UNSUPPORTED_ENTRY', '/dev/pith-null', 'character-device (1:3)');
  });

  it('stops a decompression bomb at the size its package declares', async () => {
    await refused('evil-bomb', 'DEB_TOO_LARGE', 'Installed-Size of 4 KiB', 'decompression bomb');
  });

  it('refuses a .deb whose bytes differ from the lock; nothing is cached and no output appears', async () => {
    const { dir, path } = specFor('packages: [app]\n', 'tampered');
    const cacheDir = join(dir, 'cache');
    const libfoo = (await lock(path, { cacheDir })).lock.architectures.amd64!.packages.find((p) => p.name === 'libfoo1')!;
    server.fault({ kind: 'tamper', match: /\/libfoo1_.*\.deb$/ });
    try {
      await assert.rejects(build(path, { cacheDir, outputs: [`oci:${join(dir, 'out')}`] }), (e) =>
        isPithError(e, 'DEB_HASH_MISMATCH') && e.message.includes(libfoo.filename) && e.message.includes(libfoo.sha256));
    } finally {
      server.fault(null);
    }
    assert.ok(!existsSync(join(dir, 'out')));
    assert.ok(!existsSync(join(cacheDir, 'blobs', 'sha256', libfoo.sha256)));
  });

  it('a build killed with SIGKILL leaves no partial output, and a re-run succeeds and clears what it left', async () => {
    const { dir, path } = specFor('packages: [app]\nfiles:\n  - from: big.bin\n    to: /opt/big.bin\n', 'killed');
    writeFileSync(join(dir, 'big.bin'), randomBytes(24 << 20)); // incompressible: writing the outputs takes a while
    const archive = join(dir, 'img.tar');
    const layout = join(dir, 'layout');
    const args = ['build', path, '--output', `oci-archive:${archive}:x`, '--output', `oci:${layout}:x`, '--cache', join(dir, 'cache')];
    const pith = () => spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = (child: ReturnType<typeof spawn>) => new Promise<number | null>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.on('exit', resolve)));
    /** Waits (for an event, not a time) until `seen` holds or the child has exited; whether it held. */
    const until = async (child: ReturnType<typeof spawn>, seen: () => boolean) => {
      while (child.exitCode === null && child.signalCode === null) {
        if (seen()) return true;
        await new Promise((r) => setImmediate(r));
      }
      return seen();
    };
    const inspect = (ref: string) => spawnSync('skopeo', ['inspect', ref], { encoding: 'utf8' }).status === 0;

    // Killed while downloading: the .deb of app never finishes arriving.
    server.fault({ kind: 'stall', match: /\/app_.*\.deb$/ });
    server.requests.length = 0;
    try {
      const child = pith();
      assert.ok(await until(child, () => server.requests.some((r) => /\/app_.*\.deb$/.test(r))), 'the build reached the download');
      child.kill('SIGKILL');
      await exited(child);
    } finally {
      server.fault(null);
    }
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('img.tar') || n.includes('layout')), [], 'nothing at or beside the destinations');

    // Killed while writing the outputs (or just after they were done): each destination is absent or complete.
    const child = pith();
    await until(child, () => readdirSync(dir).some((n) => n.startsWith('.img.tar.tmp-') || n.startsWith('.layout.tmp-')));
    child.kill('SIGKILL');
    await exited(child);
    if (existsSync(archive)) assert.ok(inspect(`oci-archive:${archive}:x`), 'a complete archive');
    if (existsSync(layout)) assert.ok(inspect(`oci:${layout}:x`), 'a complete layout');

    const rerun = pith();
    let stderr = '';
    rerun.stderr!.on('data', (d) => (stderr += d));
    assert.equal(await exited(rerun), 0, stderr);
    assert.ok(inspect(`oci-archive:${archive}:x`));
    assert.ok(inspect(`oci:${layout}:x`));
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.tmp-')), [], 'the killed run\'s temp files are gone');
  });
});

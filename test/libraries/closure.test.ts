import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  build,
  checkLock,
  FsTree,
  isPithError,
  lock,
  needsChanges,
  parseContents,
  planLibraries,
  readElf,
  specElfNeeds,
  verifyLibraries,
  type FsEntry,
} from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive, type FixturePackage, type FixtureSuite } from '../fixtures/archive.ts';
import { makeElf, type ElfSpec } from '../fixtures/elf.ts';
import { assertRan, runcRun, runtimeMissing, unpackBundle } from '../fixtures/runtimes.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-closure-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const INTERP = '/lib64/ld-linux-x86-64.so.2';
const file = (path: string, content: Uint8Array | string, mode = 0o755): FsEntry => ({
  type: 'file', path, mode, uid: 0, gid: 0, mtime: 0, content: typeof content === 'string' ? Buffer.from(content) : content,
});
const elf = (spec: ElfSpec) => makeElf({ type: 3, ...spec });

/** A merged-/usr tree holding a loader, libc and whatever else, each added as `owner` would ship it. */
function treeWith(entries: Array<[string | undefined, FsEntry | { symlink: string; path: string }]>): FsTree {
  const tree = FsTree.mergedUsr();
  tree.add(file('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', elf({ soname: 'ld-linux-x86-64.so.2' })), 'libc6');
  tree.add({ type: 'symlink', path: INTERP, target: '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', uid: 0, gid: 0, mtime: 0 }, 'libc6');
  tree.add(file('/lib/x86_64-linux-gnu/libc.so.6', elf({ soname: 'libc.so.6', needed: ['ld-linux-x86-64.so.2'] })), 'libc6');
  for (const [owner, e] of entries) {
    if ('symlink' in e) tree.add({ type: 'symlink', path: e.path, target: e.symlink, uid: 0, gid: 0, mtime: 0 }, owner);
    else tree.add(e, owner);
  }
  return tree;
}

describe('verifyLibraries: the closure on an assembled tree', () => {
  it('follows the interpreter and every library transitively, through merged /usr and symlinks, naming owners', () => {
    const tree = treeWith([
      ['libssl3', file('/usr/lib/x86_64-linux-gnu/libssl.so.3', elf({ soname: 'libssl.so.3', needed: ['libcrypto.so.3', 'libc.so.6'] }))],
      ['libssl3', file('/usr/lib/x86_64-linux-gnu/libcrypto.so.3', elf({ soname: 'libcrypto.so.3', needed: ['libc.so.6'] }))],
    ]);
    const app = file('/usr/local/bin/app', elf({ type: 2, interpreter: INTERP, needed: ['libssl.so.3', 'libc.so.6'] }));
    tree.add(app);
    assert.deepEqual(verifyLibraries(tree, [app, file('/etc/app.conf', 'x=1\n', 0o644)], 'amd64'), [
      {
        file: '/usr/local/bin/app',
        interpreter: { path: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', package: 'libc6' },
        libraries: [
          { soname: 'libssl.so.3', path: '/usr/lib/x86_64-linux-gnu/libssl.so.3', package: 'libssl3' },
          { soname: 'libc.so.6', path: '/usr/lib/x86_64-linux-gnu/libc.so.6', package: 'libc6' },
          { soname: 'libcrypto.so.3', path: '/usr/lib/x86_64-linux-gnu/libcrypto.so.3', package: 'libssl3' },
        ],
      },
    ]);
  });

  it('a missing soname, directly or behind a library, fails naming the binary and the soname', () => {
    const tree = treeWith([['libfoo1', file('/usr/lib/x86_64-linux-gnu/libfoo.so.1', elf({ needed: ['libbar.so.2', 'libc.so.6'] }))]]);
    const app = file('/usr/local/bin/app', elf({ type: 2, interpreter: INTERP, needed: ['libfoo.so.1', 'libgone.so.7'] }));
    tree.add(app);
    assert.throws(() => verifyLibraries(tree, [app], 'amd64'), (e) => {
      assert.ok(isPithError(e, 'LIBRARY_MISSING'));
      assert.match(e.message, /\/usr\/local\/bin\/app needs libgone\.so\.7: not found in \/lib\/x86_64-linux-gnu, \/usr\/lib\/x86_64-linux-gnu, \/lib, \/usr\/lib/);
      assert.match(e.message, /\/usr\/local\/bin\/app needs libbar\.so\.2 \(needed by \/usr\/lib\/x86_64-linux-gnu\/libfoo\.so\.1\)/);
      return true;
    });
    const noLoader = FsTree.mergedUsr();
    noLoader.add(app);
    assert.throws(() => verifyLibraries(noLoader, [app], 'amd64'), (e) => isPithError(e, 'LIBRARY_MISSING') && e.message.includes(`needs the program interpreter ${INTERP}: not in the image`));
  });

  it('RUNPATH with $ORIGIN is searched for the object\'s own needs only; RPATH is inherited by what it loads', () => {
    const tree = treeWith([
      [undefined, file('/opt/app/lib/libplug.so.1', elf({ needed: ['libhelper.so.1'] }))],
      [undefined, file('/opt/app/lib/libhelper.so.1', elf({}))],
    ]);
    const runpath = file('/opt/app/bin/run', elf({ type: 2, interpreter: INTERP, needed: ['libplug.so.1'], runpath: '$ORIGIN/../lib' }));
    tree.add(runpath);
    // libplug has no RUNPATH of its own: the program's RUNPATH does not help it find libhelper.
    assert.throws(() => verifyLibraries(tree, [runpath], 'amd64'), (e) => isPithError(e, 'LIBRARY_MISSING') && e.message.includes('needs libhelper.so.1 (needed by /opt/app/lib/libplug.so.1)'));
    const rpath = file('/opt/app/bin/old', elf({ type: 2, interpreter: INTERP, needed: ['libplug.so.1'], rpath: '${ORIGIN}/../lib' }));
    tree.add(rpath);
    const [closure] = verifyLibraries(tree, [rpath], 'amd64');
    assert.deepEqual(closure!.libraries.map((l) => l.path), ['/opt/app/lib/libplug.so.1', '/opt/app/lib/libhelper.so.1']);
    assert.equal(closure!.libraries[0]!.package, undefined, 'shipped through files:, not by a package');
  });

  it('passes over a candidate of the wrong class or machine, and a non-ELF one, as the loader does', () => {
    const tree = treeWith([
      ['lib32z1', file('/lib/x86_64-linux-gnu/libz.so.1', elf({ class: 32, machine: 3 }))],
      ['zlib1g', file('/usr/lib/libz.so.1', elf({ soname: 'libz.so.1' }))],
      ['junk', file('/usr/lib/x86_64-linux-gnu/libq.so.1', 'not a library\n')],
      ['libq1', file('/lib/libq.so.1', elf({}))],
    ]);
    const app = file('/usr/bin/zapp', elf({ type: 2, interpreter: INTERP, needed: ['libz.so.1', 'libq.so.1'] }));
    tree.add(app);
    assert.deepEqual(verifyLibraries(tree, [app], 'amd64')[0]!.libraries, [
      { soname: 'libz.so.1', path: '/usr/lib/libz.so.1', package: 'zlib1g' },
      { soname: 'libq.so.1', path: '/usr/lib/libq.so.1', package: 'libq1' },
    ]);
  });

  it('ld.so.conf.d directories count only with an ld.so.cache, which pith never writes', () => {
    const tree = treeWith([
      ['libfake', file('/usr/lib/x86_64-linux-gnu/fake/libfake.so.0', elf({}))],
      ['libfake', file('/etc/ld.so.conf.d/fake.conf', '# fakeroot\n/usr/lib/x86_64-linux-gnu/fake\n', 0o644)],
    ]);
    const app = file('/usr/bin/f', elf({ type: 2, interpreter: INTERP, needed: ['libfake.so.0'] }));
    tree.add(app);
    assert.throws(() => verifyLibraries(tree, [app], 'amd64'), (e) =>
      isPithError(e, 'LIBRARY_MISSING') && e.message.includes('/usr/lib/x86_64-linux-gnu/fake/libfake.so.0 is in a directory /etc/ld.so.conf.d names, which the loader reads only through an /etc/ld.so.cache'));
    tree.add(file('/etc/ld.so.cache', 'ld.so-1.7.0', 0o644));
    assert.equal(verifyLibraries(tree, [app], 'amd64')[0]!.libraries[0]!.path, '/usr/lib/x86_64-linux-gnu/fake/libfake.so.0');
  });

  it('static programs and non-ELF files need nothing; a program for another architecture is refused', () => {
    const tree = treeWith([]);
    const files = [file('/usr/bin/static', elf({ type: 2 })), file('/usr/bin/script', '#!/bin/sh\n')];
    assert.deepEqual(verifyLibraries(tree, files, 'amd64'), []);
    assert.deepEqual(specElfNeeds(files), []);
    const arm = file('/usr/bin/arm', elf({ type: 2, machine: 183, interpreter: '/lib/ld-linux-aarch64.so.1', needed: ['libc.so.6'] }));
    assert.throws(() => verifyLibraries(tree, [arm], 'amd64'), (e) => isPithError(e, 'LIBRARY_ARCH_MISMATCH') && e.message.includes('/usr/bin/arm') && e.message.includes('found an arm64 ELF'));
  });
});

describe('planLibraries: what the lock adds', () => {
  const contents = parseContents(Buffer.from([
    'lib/x86_64-linux-gnu/libc.so.6                 libs/libc6',
    'lib64/ld-linux-x86-64.so.2                     libs/libc6',
    'usr/lib/x86_64-linux-gnu/libssl.so.3           libs/libssl3',
    'usr/lib/x86_64-linux-gnu/libcrypto.so.3        libs/libssl3',
    'usr/lib/x86_64-linux-gnu/libGL.so.1            libs/libgl1,libs/libgl1-other',
    'usr/lib/x86_64-linux-gnu/foo/libfoo.so.1       libs/libfoo-plugins',
    '',
  ].join('\n')), 'Contents-amd64');
  const needs = (path: string, spec: ElfSpec) => specElfNeeds([file(path, elf({ type: 2, ...spec }))]);
  const options = { contents, resolved: new Set<string>(), available: new Set(['libc6', 'libssl3', 'libgl1', 'libgl1-other', 'libfoo-plugins']), specPaths: [] };

  it('adds the package that ships each need, once, recording who needed what', () => {
    const elfs = needs('/usr/local/bin/ossl', { interpreter: INTERP, needed: ['libssl.so.3', 'libcrypto.so.3', 'libc.so.6'] });
    const { provides, add } = planLibraries(elfs, 'amd64', options);
    assert.deepEqual(add, ['libc6', 'libssl3']);
    assert.deepEqual(provides, [
      { need: INTERP, path: '/usr/lib64/ld-linux-x86-64.so.2', package: 'libc6', added: true, neededBy: ['/usr/local/bin/ossl'] },
      { need: 'libc.so.6', path: '/usr/lib/x86_64-linux-gnu/libc.so.6', package: 'libc6', added: true, neededBy: ['/usr/local/bin/ossl'] },
      { need: 'libcrypto.so.3', path: '/usr/lib/x86_64-linux-gnu/libcrypto.so.3', package: 'libssl3', added: true, neededBy: ['/usr/local/bin/ossl'] },
      { need: 'libssl.so.3', path: '/usr/lib/x86_64-linux-gnu/libssl.so.3', package: 'libssl3', added: true, neededBy: ['/usr/local/bin/ossl'] },
    ]);
    const already = planLibraries(elfs, 'amd64', { ...options, resolved: new Set(['libc6', 'libssl3']) });
    assert.deepEqual(already.add, []);
    assert.ok(already.provides.every((p) => p.added === undefined));
  });

  it('prefers a provider already resolved, else the first by name; a spec file on the search path wins', () => {
    const gl = needs('/usr/bin/gl', { needed: ['libGL.so.1'] });
    assert.deepEqual(planLibraries(gl, 'amd64', options).add, ['libgl1']);
    assert.deepEqual(planLibraries(gl, 'amd64', { ...options, resolved: new Set(['libgl1-other']) }).add, []);
    const own = [...needs('/opt/x/bin/x', { needed: ['libGL.so.1'], runpath: '$ORIGIN/../lib' })];
    const plan = planLibraries(own, 'amd64', { ...options, specPaths: ['/opt/x/lib/libGL.so.1'] });
    assert.deepEqual(plan, { add: [], provides: [{ need: 'libGL.so.1', path: '/opt/x/lib/libGL.so.1', package: undefined, added: undefined, neededBy: ['/opt/x/bin/x'] }] });
  });

  it('a need nothing provides names the binary and the soname, and where the file exists off the search path', () => {
    const elfs = needs('/usr/local/bin/app', { needed: ['libfoo.so.1', 'libnowhere.so.9'] });
    assert.throws(() => planLibraries(elfs, 'amd64', options), (e) => {
      assert.ok(isPithError(e, 'LIBRARY_MISSING'));
      assert.match(e.message, /\/usr\/local\/bin\/app needs libfoo\.so\.1: .* libfoo-plugins ships it at \/usr\/lib\/x86_64-linux-gnu\/foo\/libfoo\.so\.1, off the loader's search path/);
      assert.match(e.message, /\/usr\/local\/bin\/app needs libnowhere\.so\.9: no file from the spec and no package in Contents-amd64 ships it in \/usr\/lib\/x86_64-linux-gnu, \/usr\/lib/);
      assert.match(e.message, /looked up in Contents-amd64/);
      return true;
    });
  });
});

describe('needsChanges: what makes a lock stale', () => {
  it('names files whose interpreter, sonames or search path changed, and nothing else', () => {
    const a = { file: '/usr/bin/a', interpreter: INTERP, needed: ['libc.so.6'] };
    assert.deepEqual(needsChanges([a], [{ ...a }]), []);
    assert.deepEqual(needsChanges([a], [{ ...a, needed: ['libm.so.6', 'libc.so.6'] }]), ['/usr/bin/a: now needs libm.so.6']);
    assert.deepEqual(needsChanges([a], [{ ...a, runpath: ['$ORIGIN'] }]), ['/usr/bin/a: library search path changed']);
    assert.deepEqual(needsChanges([], [a]), [`/usr/bin/a now needs ${INTERP}, libc.so.6`]);
    assert.deepEqual(needsChanges([a], []), [`/usr/bin/a no longer needs shared libraries (the lock has ${INTERP}, libc.so.6)`]);
  });
});

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils', gcc: 'gcc', umoci: 'umoci' }) ?? (process.arch === 'x64' ? undefined : 'the fixture archive is amd64');
const runcSkip = skip ?? runtimeMissing('runc');

/**
 * A fixture archive whose libraries are real: libc6 carries this machine's own libc and loader (laid out as in
 * bookworm, under /lib), libpithdemo1 a shared library gcc builds here. The spec asks only for `rootdata`.
 */
function realLibrarySuites(demoLib: Uint8Array): FixtureSuite[] {
  const host = (p: string) => ({ content: new Uint8Array(readFileSync(realpathSync(p))), mode: 0o755 });
  const main: FixturePackage[] = [
    { name: 'rootdata', version: '1', architecture: 'all', files: { '/usr/share/rootdata/README': 'data\n' } },
    {
      name: 'libc6', version: '2.36-9', source: 'glibc', multiArch: 'same',
      files: {
        '/lib/x86_64-linux-gnu/libc.so.6': host('/lib/x86_64-linux-gnu/libc.so.6'),
        '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2': host('/lib64/ld-linux-x86-64.so.2'),
        '/lib64/ld-linux-x86-64.so.2': { symlink: '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' },
      },
    },
    {
      name: 'libpithdemo1', version: '1.0-1', source: 'pithdemo', multiArch: 'same', depends: 'libc6 (>= 2.34)',
      files: {
        '/usr/lib/x86_64-linux-gnu/libpithdemo.so.1.0.0': { content: demoLib, mode: 0o644 },
        '/usr/lib/x86_64-linux-gnu/libpithdemo.so.1': { symlink: 'libpithdemo.so.1.0.0' },
      },
    },
  ];
  return [
    { suite: 'stable', codename: 'fixture', components: { main } },
    { suite: 'stable-security', codename: 'fixture-security', label: 'Debian-Security', components: { main: [] } },
  ];
}

describe('libraries: auto, check and off, end to end against a fixture archive with real libraries', { skip }, () => {
  let server: FixtureArchive;
  const dir = join(scratch, 'e2e');
  const cacheDir = join(scratch, 'cache');
  const gcc = (...args: string[]) => {
    const r = spawnSync('gcc', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  const compile = (flags: string[] = []) => gcc('-o', join(dir, 'demo'), join(dir, 'demo.c'), `-L${dir}`, '-l:libpithdemo.so.1', ...flags);
  /** Each spec in its own directory, so each has its own pith.lock; the program is shared. */
  const writeSpec = (name: string, extra = '') => {
    mkdirSync(join(dir, name));
    const path = join(dir, name, 'pith.yaml');
    writeFileSync(path, fixtureSpec(server, `packages: [rootdata]\ncontext: ..\nfiles:\n  - from: ../demo\n    to: /usr/local/bin/demo\nentrypoint: [/usr/local/bin/demo]\n${extra}`, 'demo'));
    return path;
  };

  before(async () => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'lib.c'), 'int pith_answer(void){return 42;}\n');
    writeFileSync(join(dir, 'demo.c'), '#include <stdio.h>\nint pith_answer(void);\nint main(void){printf("the answer is %d\\n", pith_answer());return 0;}\n');
    gcc('-shared', '-fPIC', '-Wl,-soname,libpithdemo.so.1', '-o', join(dir, 'libpithdemo.so.1'), join(dir, 'lib.c'));
    compile();
    server = await startFixtureArchive(join(scratch, 'archive'), { suites: realLibrarySuites(readFileSync(join(dir, 'libpithdemo.so.1'))) });
  });
  after(() => server?.close());

  it('auto: the lock adds the packages shipping the needed libraries, with the reason; the build verifies them', async () => {
    const spec = writeSpec('auto');
    const { lock: locked } = await lock(spec, { cacheDir, write: false });
    const amd64 = locked.architectures['amd64']!;
    assert.deepEqual(amd64.packages.map((p) => p.name), ['libc6', 'libpithdemo1', 'rootdata']);
    assert.equal(locked.spec.inputs.libraries, undefined, 'auto is the default: a lock without libraries keeps its digest');
    assert.deepEqual(amd64.libraries!.needs, [{ file: '/usr/local/bin/demo', interpreter: INTERP, needed: ['libpithdemo.so.1', 'libc.so.6'] }]);
    assert.deepEqual(amd64.libraries!.provides.map((p) => [p.need, p.package, p.added, p.neededBy]), [
      [INTERP, 'libc6', true, ['/usr/local/bin/demo']],
      ['libc.so.6', 'libc6', true, ['/usr/local/bin/demo']],
      ['libpithdemo.so.1', 'libpithdemo1', true, ['/usr/local/bin/demo']],
    ]);
    assert.ok(server.requests.some((r) => r.startsWith('/dists/fixture/main/by-hash/')), 'Contents was read');

    const out = join(scratch, 'out-auto');
    const result = await build(spec, { cacheDir, outputs: [`oci:${out}:demo`] });
    const libs = result.architectures[0]!.libraries;
    assert.equal(libs.mode, 'auto');
    assert.deepEqual(libs.added.map((a) => a.package).sort(), ['libc6', 'libc6', 'libpithdemo1']);
    assert.deepEqual(libs.files, [{
      file: '/usr/local/bin/demo',
      interpreter: { path: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', package: 'libc6' },
      libraries: [
        { soname: 'libpithdemo.so.1', path: '/usr/lib/x86_64-linux-gnu/libpithdemo.so.1.0.0', package: 'libpithdemo1' },
        { soname: 'libc.so.6', path: '/usr/lib/x86_64-linux-gnu/libc.so.6', package: 'libc6' },
      ],
    }]);
  });

  it('auto: recompiling the same program keeps the lock; a new need makes it stale, and a need nothing ships fails the lock', async () => {
    const spec = writeSpec('stale');
    await lock(spec, { cacheDir });
    const before = readFileSync(join(dir, 'stale', 'pith.lock'));
    try {
      compile(['-O2', '-g']);
      const rebuilt = await build(spec, { cacheDir, outputs: [`oci:${join(scratch, 'out-stale')}:demo`] });
      assert.equal(rebuilt.lockCreated, false);
      assert.deepEqual(readFileSync(join(dir, 'stale', 'pith.lock')), before, 'the lock is untouched');
      assert.equal((await checkLock(spec, { cacheDir })).specChanges.length, 0);

      compile(['-Wl,--no-as-needed', '-lm']);
      await assert.rejects(build(spec, { cacheDir, locked: true, outputs: [`oci:${join(scratch, 'never')}:demo`] }), (e) =>
        isPithError(e, 'LOCK_STALE') && e.message.includes('libraries: /usr/local/bin/demo: now needs libm.so.6'));
      // Without --locked the build re-locks, and the re-lock finds that nothing ships the new need.
      await assert.rejects(build(spec, { cacheDir, outputs: [`oci:${join(scratch, 'never')}:demo`] }), (e) => isPithError(e, 'LIBRARY_MISSING'));
      assert.deepEqual(readFileSync(join(dir, 'stale', 'pith.lock')), before, 'a failed re-lock leaves the lock as it was');
      assert.deepEqual((await checkLock(spec, { cacheDir })).specChanges, ['libraries: /usr/local/bin/demo: now needs libm.so.6']);
      await assert.rejects(lock(spec, { cacheDir }), (e) =>
        isPithError(e, 'LIBRARY_MISSING') && /\/usr\/local\/bin\/demo needs libm\.so\.6: no file from the spec and no package in Contents-amd64 ships it/.test(e.message));
    } finally {
      compile();
    }
  });

  it('check: the lock adds nothing and the build fails naming the binary and the soname; off: no check at all', async () => {
    const check = writeSpec('check', 'libraries: check\n');
    const { lock: locked } = await lock(check, { cacheDir, write: false });
    assert.deepEqual(locked.architectures['amd64']!.packages.map((p) => p.name), ['rootdata']);
    assert.equal(locked.architectures['amd64']!.libraries, undefined);
    assert.equal(locked.spec.inputs.libraries, 'check');
    await assert.rejects(build(check, { cacheDir, outputs: [`oci:${join(scratch, 'never-check')}:demo`] }), (e) =>
      isPithError(e, 'LIBRARY_MISSING') && e.message.includes('/usr/local/bin/demo needs libpithdemo.so.1') && e.message.includes(`needs the program interpreter ${INTERP}`));
    const off = writeSpec('off', 'libraries: off\n');
    const result = await build(off, { cacheDir, outputs: [`oci:${join(scratch, 'out-off')}:demo`] });
    assert.deepEqual(result.architectures[0]!.libraries, { mode: 'off', files: [], added: [] });
  });

  it('the image runs under runc: the program finds its libraries', { skip: runcSkip }, async () => {
    const spec = writeSpec('run');
    const out = join(scratch, 'out-run');
    await build(spec, { cacheDir, outputs: [`oci:${out}:demo`] });
    const bundle = join(scratch, 'bundle-run');
    const { rootfs } = await unpackBundle(`${out}:demo`, bundle);
    assert.equal(assertRan(await runcRun(bundle)), 'the answer is 42\n');
    assert.equal(readElf(readFileSync(join(rootfs, 'usr/local/bin/demo')), 'demo').interpreter, INTERP);
  });
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { trimPaths } from '../../src/assemble/paths.ts';
import { STATUS_D, treeOrder, writeFileLists, writeStatusD, type StatusPackage } from '../../src/assemble/status.ts';
import { readDeb } from '../../src/debian/deb.ts';
import { parseDeb822 } from '../../src/debian/deb822.ts';
import { parseVersion } from '../../src/debian/version.ts';
import { isPithError } from '../../src/errors.ts';
import { FsTree, usrMergedPath } from '../../src/fs/tree.ts';
import { missingTools } from '../fixtures/apt.ts';

const EPOCH = 1_700_000_000;
const scratch = mkdtempSync(join(tmpdir(), 'pith-status-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

async function statusPackage(debPath: string): Promise<StatusPackage> {
  const deb = await readDeb(new Uint8Array(readFileSync(debPath)), debPath);
  return { control: deb.control, controlFiles: deb.controlFiles, name: deb.control['package']!, architecture: deb.control['architecture']!, multiArch: deb.control['multi-arch'] };
}

/**
 * The parse rules issue 5 documents for the scanners, applied to every file of status.d: Syft (one stanza, no
 * duplicate field, Package required, md5sums beside it as <name>.md5sums) and Trivy (files directly inside
 * status.d, Package and a valid Version, every line a field or a continuation, Source as name [(version)]).
 */
function checkScannerRules(tree: FsTree): Map<string, Record<string, string>> {
  const found = new Map<string, Record<string, string>>();
  const files = tree.entries().filter((e) => e.path.startsWith(STATUS_D + '/'));
  for (const e of files) {
    assert.equal(e.type, 'file', `${e.path}: only files inside status.d`);
    assert.equal(e.path.lastIndexOf('/'), STATUS_D.length, `${e.path}: directly inside status.d`);
    if (e.path.endsWith('.md5sums')) continue;
    const body = text(tree.readFile(e.path)!);
    for (const line of body.replace(/\n$/, '').split('\n')) assert.match(line, /^([A-Za-z0-9][^:\s]*:|[ \t])/, `${e.path}: malformed line ${JSON.stringify(line)}`);
    const stanzas = parseDeb822(body, { source: e.path });
    assert.equal(stanzas.length, 1, `${e.path}: one stanza`);
    const f = stanzas[0]!.fields;
    assert.ok(f['package'] && f['version'], `${e.path}: Package and Version`);
    parseVersion(f['version']);
    assert.equal(f['status'], undefined, `${e.path}: no Status`);
    if (f['source'] !== undefined) {
      const m = /^([a-z0-9][a-z0-9+.-]+)(?: \(([^()\s]+)\))?$/.exec(f['source']);
      assert.ok(m, `${e.path}: Source ${JSON.stringify(f['source'])} is "name" or "name (version)"`);
      if (m[2]) parseVersion(m[2]);
    }
    assert.equal(e.path.slice(STATUS_D.length + 1), f['package']);
    found.set(f['package'], f);
  }
  return found;
}

describe('writeStatusD', () => {
  const skip = missingTools({ 'dpkg-deb': 'dpkg' });

  it('writes the control file verbatim — order, case, Source with its version — and (with the file lists) md5sums, checked by dpkg-deb', { skip }, async () => {
    const root = join(scratch, 'fixture');
    mkdirSync(join(root, 'DEBIAN'), { recursive: true });
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(join(root, 'usr/bin/hello'), 'hi\n');
    // Unusual on purpose: Source before Package, a binNMU-style Source version, odd field case, a multi-line field.
    const control = [
      'Source: hello-src (1.0-1)',
      'Package: hello',
      'Version: 1.0-1+b1',
      'Architecture: amd64',
      'Maintainer: Jane Doe <jane@example.org>',
      'multi-arch: same',
      'Description: greets',
      ' Says hi.',
      ' .',
      ' Twice.',
      '',
    ].join('\n');
    writeFileSync(join(root, 'DEBIAN/control'), control);
    writeFileSync(join(root, 'DEBIAN/md5sums'), `${createHash('md5').update('hi\n').digest('hex')}  usr/bin/hello\n`);
    const deb = join(scratch, 'hello.deb');
    const b = spawnSync('dpkg-deb', ['--root-owner-group', '-b', root, deb], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);

    const tree = FsTree.mergedUsr();
    const pkg = await statusPackage(deb);
    const written = writeStatusD(tree, [pkg], { sourceDateEpoch: EPOCH });
    assert.deepEqual(written, [`${STATUS_D}/hello`]);
    tree.add({ type: 'file', path: '/usr/bin/hello', mode: 0o755, uid: 0, gid: 0, mtime: EPOCH, content: new TextEncoder().encode('hi\n') }, 'hello');
    assert.deepEqual(writeFileLists(tree, [{ name: 'hello', md5sums: pkg.controlFiles.get('md5sums') }], { sourceDateEpoch: EPOCH }), ['/var/lib/dpkg/info/hello.list', `${STATUS_D}/hello.md5sums`]);
    const stanza = text(tree.readFile(`${STATUS_D}/hello`)!);
    assert.equal(stanza, spawnSync('dpkg-deb', ['-f', deb], { encoding: 'utf8' }).stdout);
    assert.equal(stanza, control);
    assert.equal(text(tree.readFile(`${STATUS_D}/hello.md5sums`)!), spawnSync('dpkg-deb', ['-I', deb, 'md5sums'], { encoding: 'utf8' }).stdout);
    const e = tree.get(`${STATUS_D}/hello`)!;
    assert.equal(e.mtime, EPOCH);
    assert.equal(e.type === 'file' && e.mode, 0o644);
    assert.equal(tree.owner(`${STATUS_D}/hello`), 'hello');
    const f = checkScannerRules(tree).get('hello')!;
    assert.equal(f['source'], 'hello-src (1.0-1)');
  });

  it('md5sums name only the package\'s files the image holds, at their merged-/usr paths, in the .deb\'s order', () => {
    const tree = FsTree.mergedUsr();
    const f = (path: string, owner: string, body = path) => tree.add({ type: 'file', path, mode: 0o644, uid: 0, gid: 0, mtime: EPOCH, content: new TextEncoder().encode(body) }, owner);
    f('/bin/sh', 'dash');
    f('/usr/share/dash/kept', 'dash');
    f('/etc/motd', 'dash');
    tree.add({ type: 'file', path: '/etc/motd', mode: 0o644, uid: 0, gid: 0, mtime: EPOCH, content: new TextEncoder().encode('spec') }, undefined, { replaces: true }); // a spec file replaced it
    const md5 = (p: string) => createHash('md5').update(p).digest('hex');
    const deb = ['/bin/sh', '/usr/share/doc/dash/README', '/usr/share/dash/kept', '/etc/motd'].map((p) => `${md5(p)}  ${p.slice(1)}\n`).join('');
    writeFileLists(tree, [{ name: 'dash', md5sums: new TextEncoder().encode(deb) }, { name: 'docs-only', md5sums: new TextEncoder().encode(`${md5('x')}  usr/share/doc/x\n`) }], { sourceDateEpoch: EPOCH });
    assert.equal(text(tree.readFile(`${STATUS_D}/dash.md5sums`)!), `${md5('/bin/sh')}  usr/bin/sh\n${md5('/usr/share/dash/kept')}  usr/share/dash/kept\n`);
    assert.equal(tree.get(`${STATUS_D}/docs-only.md5sums`), undefined, 'nothing left of it: no md5sums');
  });

  it('md5sums of a real .deb after trimming: its hard links kept, its docs gone, lines as md5sum wrote them', { skip }, async () => {
    const root = join(scratch, 'perlish');
    mkdirSync(join(root, 'DEBIAN'), { recursive: true });
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    mkdirSync(join(root, 'usr/share/doc/perlish'), { recursive: true });
    writeFileSync(join(root, 'usr/bin/perl5.36'), 'interpreter\n');
    linkSync(join(root, 'usr/bin/perl5.36'), join(root, 'usr/bin/perl')); // as perl-base ships them
    writeFileSync(join(root, 'usr/share/doc/perlish/README'), 'docs\n');
    writeFileSync(join(root, 'usr/share/doc/perlish/copyright'), 'MIT\n');
    writeFileSync(join(root, 'DEBIAN/control'), 'Package: perlish\nVersion: 1\nArchitecture: amd64\nMaintainer: M <m@example.org>\nDescription: d\n');
    // What dh_md5sums runs: md5sum over every regular file (hard links included), paths relative to the root.
    const files = ['usr/bin/perl', 'usr/bin/perl5.36', 'usr/share/doc/perlish/README', 'usr/share/doc/perlish/copyright'];
    const sums = spawnSync('md5sum', files, { cwd: root, encoding: 'utf8' });
    assert.equal(sums.status, 0, sums.stderr);
    writeFileSync(join(root, 'DEBIAN/md5sums'), sums.stdout);
    const debPath = join(scratch, 'perlish.deb');
    const b = spawnSync('dpkg-deb', ['--root-owner-group', '-b', root, debPath], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);

    const deb = await readDeb(new Uint8Array(readFileSync(debPath)), debPath);
    assert.ok(deb.entries.some((e) => e.type === 'hardlink'), 'dpkg-deb stored one name as a hard link');
    const tree = FsTree.mergedUsr();
    for (const e of deb.entries) tree.add(e, 'perlish');
    assert.deepEqual(trimPaths(tree).map((t) => t.path), ['/usr/share/doc/perlish/README']);
    writeFileLists(tree, [{ name: 'perlish', md5sums: deb.controlFiles.get('md5sums') }], { sourceDateEpoch: EPOCH });
    const kept = sums.stdout.split('\n').filter((l) => l !== '' && !l.endsWith('/README')).map((l) => `${l}\n`).join('');
    assert.equal(text(tree.readFile(`${STATUS_D}/perlish.md5sums`)!), kept);
  });

  it('is independent of input order and refuses a package twice', () => {
    const pkg = (name: string, extra = ''): StatusPackage => ({
      name,
      architecture: 'amd64',
      control: {},
      controlFiles: new Map([['control', new Uint8Array(Buffer.from(`Package: ${name}\nVersion: 1\nArchitecture: amd64\n${extra}\n\n`))]]),
    });
    const a = FsTree.mergedUsr();
    const b = FsTree.mergedUsr();
    writeStatusD(a, [pkg('a'), pkg('b'), pkg('c')], { sourceDateEpoch: EPOCH });
    writeStatusD(b, [pkg('c'), pkg('a'), pkg('b')], { sourceDateEpoch: EPOCH });
    assert.deepEqual(a.entries(), b.entries());
    assert.equal(text(a.readFile(`${STATUS_D}/a`)!), 'Package: a\nVersion: 1\nArchitecture: amd64\n', 'trailing blank lines dropped');
    assert.equal(a.get(`${STATUS_D}/a.md5sums`), undefined, 'no md5sums file when the package has none');
    assert.throws(() => writeStatusD(FsTree.mergedUsr(), [pkg('a'), pkg('a')], { sourceDateEpoch: EPOCH }), (e) => isPithError(e, 'STATUS_DUPLICATE') && e.message.includes('a twice'));
    assert.throws(
      () => writeStatusD(FsTree.mergedUsr(), [{ ...pkg('x'), controlFiles: new Map([['control', new Uint8Array(Buffer.from('Package: x\nArchitecture: all\n'))]]) }], { sourceDateEpoch: EPOCH }),
      (e) => isPithError(e, 'STATUS_CONTROL_INVALID') && /x: control file: expected a Version field/.test(e.message),
    );
    assert.throws(
      () => writeStatusD(FsTree.mergedUsr(), [{ ...pkg('x'), controlFiles: new Map() }], { sourceDateEpoch: EPOCH }),
      (e) => isPithError(e, 'STATUS_NO_CONTROL'),
    );
    assert.throws(
      () => writeStatusD(FsTree.mergedUsr(), [pkg('x', 'Version: 2')], { sourceDateEpoch: EPOCH }),
      (e) => isPithError(e, 'DEB822_SYNTAX') && /appears twice/.test(e.message),
    );
  });

  it('matches dpkg-deb for real archive packages and passes the scanner rules', { skip: skip ?? missingTools({ 'apt-get': 'apt' }) }, async (t) => {
    const dir = join(scratch, 'real');
    mkdirSync(dir);
    const names = ['libc6', 'libgcc-s1', 'ca-certificates', 'tzdata', 'base-passwd'];
    const dl = spawnSync('apt-get', ['download', ...names], { cwd: dir, encoding: 'utf8' });
    if (dl.status !== 0) {
      if (process.env.PITH_REQUIRE_INTEGRATION === '1') assert.fail(`apt-get download failed: ${dl.stderr}`);
      t.skip(`apt-get download ${names.join(' ')} failed (offline?): ${dl.stderr.trim().split('\n').pop()}`);
      return;
    }
    const debs = readdirSync(dir).filter((f) => f.endsWith('.deb')).map((f) => join(dir, f));
    assert.equal(debs.length, names.length);
    const tree = FsTree.mergedUsr();
    const packages = await Promise.all(debs.map(statusPackage));
    writeStatusD(tree, packages, { sourceDateEpoch: EPOCH });
    // Every file unpacked, nothing trimmed: the md5sums then hold every line of the .deb's, at merged-/usr paths.
    for (const deb of debs) {
      const read = await readDeb(new Uint8Array(readFileSync(deb)), deb);
      for (const e of read.entries) tree.add(e, read.control['package']!);
    }
    writeFileLists(tree, packages.map((p) => ({ name: p.name, md5sums: p.controlFiles.get('md5sums') })), { sourceDateEpoch: EPOCH });
    const found = checkScannerRules(tree);
    assert.deepEqual([...found.keys()].sort(), [...names].sort());
    for (const deb of debs) {
      const name = spawnSync('dpkg-deb', ['-f', deb, 'Package'], { encoding: 'utf8' }).stdout.trim();
      assert.equal(text(tree.readFile(`${STATUS_D}/${name}`)!), spawnSync('dpkg-deb', ['-f', deb], { encoding: 'utf8' }).stdout, name);
      const merged = spawnSync('dpkg-deb', ['-I', deb, 'md5sums'], { encoding: 'utf8' }).stdout.replace(/^([0-9a-f]{32}  )(.*)$/gm, (_, sum: string, path: string) => sum + usrMergedPath(`/${path}`).slice(1));
      assert.equal(text(tree.readFile(`${STATUS_D}/${name}.md5sums`)!), merged, name);
      const source = spawnSync('dpkg-deb', ['-f', deb, 'Source'], { encoding: 'utf8' }).stdout.trim();
      assert.equal(found.get(name)!['source'], source === '' ? undefined : source);
    }
  });
});

describe('treeOrder', () => {
  it('sorts paths component by component (what dpkg\'s .list files hold), whatever characters sit beside "/"', () => {
    const byComponents = (a: string, b: string): number => {
      const x = a.split('/');
      const y = b.split('/');
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
      return x.length - y.length;
    };
    // Characters below "/" in code-unit order (space, "!", "-", ".") are where a plain sort and the tree's differ.
    const alphabet = ['a', 'b', '-', '.', ' ', '!', '0', 'é', '/'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const paths = new Set(['/usr/lib', '/usr/lib-x', '/usr/lib/x', '/usr/lib.d', '/usr/lib/x/y', '/usr/li']);
    while (paths.size < 400) {
      let p = '';
      for (let n = 1 + Math.floor(next() * 8); n > 0; n--) p += alphabet[Math.floor(next() * alphabet.length)];
      paths.add('/' + p.replace(/\/+/g, '/').replace(/\/$/, 'z'));
    }
    const expected = [...paths].sort(byComponents);
    assert.deepEqual([...paths].sort(treeOrder), expected);
    assert.ok(expected.indexOf('/usr/lib/x/y') < expected.indexOf('/usr/lib-x'), 'a directory\'s contents come before a sibling sharing its prefix');
    assert.notDeepEqual([...paths].sort(), expected, 'the sample holds paths a plain sort orders differently');
  });
});


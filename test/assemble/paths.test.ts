import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TRIM, globToRegExp, trimPaths } from '../../src/assemble/paths.ts';
import { readDeb } from '../../src/debian/deb.ts';
import { isPithError } from '../../src/errors.ts';
import type { FsEntry } from '../../src/fs/entry.ts';
import { FsTree } from '../../src/fs/tree.ts';
import { missingTools } from '../fixtures/apt.ts';

const file = (path: string, content = 'x'): FsEntry => ({ type: 'file', path, mode: 0o644, uid: 0, gid: 0, mtime: 1, content: new Uint8Array(Buffer.from(content)) });
const link = (path: string, target: string): FsEntry => ({ type: 'symlink', path, target, uid: 0, gid: 0, mtime: 1 });
const dir = (path: string): FsEntry => ({ type: 'dir', path, mode: 0o755, uid: 0, gid: 0, mtime: 1 });

function sample(order: 'forward' | 'reverse' = 'forward'): FsTree {
  const items: Array<[FsEntry, string]> = [
    [file('/usr/bin/foo'), 'foo'],
    [file('/usr/share/doc/foo/copyright'), 'foo'],
    [file('/usr/share/doc/foo/changelog.Debian.gz'), 'foo'],
    [file('/usr/share/doc/foo/examples/a.conf'), 'foo'],
    [link('/usr/share/doc/foo-dev', 'foo'), 'foo-dev'],
    [file('/usr/share/man/man1/foo.1.gz'), 'foo'],
    [file('/usr/share/man/de/man1/foo.1.gz'), 'foo'],
    [file('/usr/share/locale/de/LC_MESSAGES/foo.mo'), 'foo'],
    [file('/usr/share/locale/fr/LC_MESSAGES/foo.mo'), 'foo'],
    [file('/usr/share/info/foo.info.gz'), 'foo'],
    [file('/usr/share/lintian/overrides/foo'), 'foo'],
    [file('/lib/x86_64-linux-gnu/gconv/UTF-16.so'), 'libc6'],
    [file('/usr/lib/x86_64-linux-gnu/libc.so.6'), 'libc6'],
    [dir('/var/cache/foo'), 'foo'],
    [file('/opt/app/data/big.bin'), 'app'],
    [file('/opt/app/keep.me'), 'app'],
    // A link outside every rule pointing into a trimmed area: its target must survive.
    [link('/usr/share/foo/README', '../doc/foo/examples/a.conf'), 'foo'],
  ];
  const tree = FsTree.mergedUsr();
  for (const [e, o] of order === 'forward' ? items : [...items].reverse()) tree.add(e, o);
  return tree;
}

describe('globToRegExp', () => {
  it('keeps * within a segment and lets ** span segments', () => {
    const re = globToRegExp('/usr/share/doc/*/copyright');
    assert.ok(re.test('/usr/share/doc/libc6/copyright'));
    assert.ok(!re.test('/usr/share/doc/libc6/x/copyright'));
    assert.ok(globToRegExp('/usr/share/doc/**').test('/usr/share/doc/a/b/c'));
    assert.ok(globToRegExp('/usr/**/*.mo').test('/usr/share/locale/de/LC_MESSAGES/x.mo'));
    assert.ok(globToRegExp('/a/**/b').test('/a/b'));
    assert.ok(!globToRegExp('/a.b').test('/axb'), 'regex characters are literal');
    assert.ok(globToRegExp('/lib/*/gconv/**', true).test('/usr/lib/x86_64-linux-gnu/gconv/x.so'), '/lib means /usr/lib under merged /usr');
    for (const bad of ['usr/share', '/usr/../etc']) assert.throws(() => globToRegExp(bad), (e) => isPithError(e, 'PATHS_PATTERN') && e.message.includes(bad));
  });
});

describe('trimPaths', () => {
  it('removes docs, man, info, locales, lintian and gconv; keeps copyright, doc links and what links lead to; lists everything', () => {
    const tree = sample();
    const removed = trimPaths(tree);
    const paths = removed.map((r) => r.path);
    assert.deepEqual(paths, [...paths].sort(), 'sorted');
    for (const p of ['/usr/bin/foo', '/usr/share/doc/foo/copyright', '/usr/share/doc/foo-dev', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/var/cache/foo', '/usr/share/doc/foo/examples/a.conf']) {
      assert.ok(tree.get(p), `${p} kept`);
    }
    assert.equal(tree.readFile('/usr/share/foo/README') !== undefined, true, 'the link still resolves');
    assert.equal(tree.readFile('/usr/share/doc/foo-dev/copyright') !== undefined, true);
    assert.deepEqual(removed.find((r) => r.path === '/usr/share/doc/foo/changelog.Debian.gz'), { path: '/usr/share/doc/foo/changelog.Debian.gz', owner: 'foo', rule: 'default: /usr/share/doc/**' });
    assert.deepEqual(removed.find((r) => r.path === '/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so'), { path: '/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so', owner: 'libc6', rule: 'default: /usr/lib/*/gconv/**' });
    for (const gone of ['/usr/share/man', '/usr/share/locale', '/usr/share/info', '/usr/share/lintian', '/usr/lib/x86_64-linux-gnu/gconv']) {
      assert.equal(tree.get(gone), undefined, `${gone} removed`);
      assert.ok(paths.includes(gone), `${gone} listed`);
    }
    assert.equal(removed.find((r) => r.path === '/usr/share/man')!.rule, 'default: /usr/share/man/**', 'a ** rule names its own directory too');
    assert.equal(removed.find((r) => r.path === '/usr/share/foo'), undefined);
    assert.equal(removed.find((r) => r.path === '/usr/share/man/man1')!.rule, 'default: /usr/share/man/**');
    for (const e of tree.entries()) assert.ok(!paths.includes(e.path), `${e.path} is listed as removed but still there`);
    assert.ok(!removed.some((r) => r.rule.startsWith('dangling')));
  });

  it('gives the same result whatever order the tree was built in', () => {
    const a = sample('forward');
    const b = sample('reverse');
    assert.deepEqual(trimPaths(a), trimPaths(b));
    assert.deepEqual(a.entries(), b.entries());
  });

  it('brings paths back with keep, removes more with exclude, and never removes a copyright', () => {
    const tree = sample();
    const removed = trimPaths(tree, {
      keep: ['/usr/share/locale/de/**', '/usr/share/man/man1/foo.1.gz'],
      exclude: ['/opt/app/data', '/usr/share/doc/*/copyright', '/usr/bin/*'],
    });
    assert.ok(tree.get('/usr/share/locale/de/LC_MESSAGES/foo.mo'));
    assert.equal(tree.get('/usr/share/locale/fr'), undefined);
    assert.ok(tree.get('/usr/share/man/man1/foo.1.gz'));
    assert.equal(tree.get('/usr/share/man/de'), undefined);
    assert.ok(tree.get('/usr/share/doc/foo/copyright'), 'copyright stays even when exclude names it');
    assert.equal(tree.get('/opt/app/data'), undefined);
    assert.ok(tree.get('/opt/app/keep.me'));
    assert.equal(removed.find((r) => r.path === '/opt/app/data/big.bin')!.rule, 'paths.exclude: /opt/app/data');
    assert.equal(removed.find((r) => r.path === '/usr/bin/foo')!.rule, 'paths.exclude: /usr/bin/*');
  });

  it('keeps a directory shipped empty outside every rule, removes one inside a rule', () => {
    const tree = FsTree.mergedUsr();
    tree.add(dir('/var/lib/foo'), 'foo');
    tree.add(dir('/usr/share/man/man8'), 'foo');
    tree.add(file('/opt/x/doc/readme'), 'x');
    const removed = trimPaths(tree, { exclude: ['/opt/x/doc/readme'] });
    assert.ok(tree.get('/var/lib/foo'));
    assert.ok(tree.get('/opt'), 'top-level directories stay');
    assert.deepEqual(removed, [
      { path: '/opt/x', owner: undefined, rule: 'emptied by trimming' },
      { path: '/opt/x/doc', owner: undefined, rule: 'emptied by trimming' },
      { path: '/opt/x/doc/readme', owner: 'x', rule: 'paths.exclude: /opt/x/doc/readme' },
      { path: '/usr/share', owner: undefined, rule: 'emptied by trimming' },
      { path: '/usr/share/man', owner: undefined, rule: 'default: /usr/share/man/**' },
      { path: '/usr/share/man/man8', owner: 'foo', rule: 'default: /usr/share/man/**' },
    ]);
  });

  describe('with real packages', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'pith-paths-'));
    after(() => rmSync(scratch, { recursive: true, force: true }));
    const skip = missingTools({ 'apt-get': 'apt', 'dpkg-deb': 'dpkg' });
    const tree = FsTree.mergedUsr();
    let offline: string | undefined;
    before(async () => {
      if (skip) return;
      const dl = spawnSync('apt-get', ['download', 'tzdata', 'libc6'], { cwd: scratch, encoding: 'utf8' });
      if (dl.status !== 0) {
        if (process.env.PITH_REQUIRE_INTEGRATION === '1') assert.fail(`apt-get download failed: ${dl.stderr}`);
        offline = `apt-get download tzdata libc6 failed (offline?): ${dl.stderr.trim().split('\n').pop()}`;
        return;
      }
      for (const f of readdirSync(scratch).filter((n) => n.endsWith('.deb'))) {
        const deb = await readDeb(new Uint8Array(readFileSync(join(scratch, f))), f);
        for (const e of deb.entries) tree.add(e, deb.control['package']);
      }
    });

    it('trims tzdata and libc6 as bookworm ships them without breaking a single link', { skip }, (t) => {
      if (offline) return t.skip(offline);
      const before = tree.entries();
      const links = before.filter((e) => e.type === 'symlink' && tree.resolve(e.path) !== undefined).map((e) => e.path);
      const copyrights = before.filter((e) => /^\/usr\/share\/doc\/[^/]+\/copyright$/.test(e.path)).map((e) => e.path);
      assert.ok(before.some((e) => e.path.startsWith('/usr/share/zoneinfo/right/')), 'tzdata ships right/');
      const removed = trimPaths(tree);
      assert.ok(removed.length > 600);
      assert.ok(!removed.some((r) => r.rule.startsWith('dangling')));
      for (const l of links) if (tree.get(l)) assert.ok(tree.resolve(l), `${l} still resolves`);
      for (const c of copyrights) assert.ok(tree.get(c), `${c} kept`);
      for (const gone of ['/usr/share/zoneinfo/right', '/usr/share/zoneinfo/posix', '/usr/lib/x86_64-linux-gnu/gconv', '/usr/share/lintian']) {
        assert.equal(tree.get(gone), undefined, gone);
      }
      assert.ok(tree.readFile('/usr/share/zoneinfo/Europe/Paris'));
      assert.ok(tree.readFile('/usr/share/zoneinfo/UTC'));
      assert.ok(tree.readFile('/usr/share/zoneinfo/posixrules'), 'posixrules → America/New_York still resolves');
      assert.ok(tree.get('/usr/lib/x86_64-linux-gnu/libc.so.6'));
      const owners = new Set(removed.map((r) => r.owner));
      assert.ok(owners.has('tzdata') && owners.has('libc6'));
    });
  });

  it('exports the documented defaults', () => {
    assert.ok(DEFAULT_TRIM.includes('/usr/share/doc/**'));
    assert.ok(Object.isFrozen(DEFAULT_TRIM));
  });
});

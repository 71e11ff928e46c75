import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPithError, type ErrorCode } from '../../src/errors.ts';
import type { FsEntry } from '../../src/fs/entry.ts';
import { FsTree, MAX_SYMLINK_HOPS, normalisePath } from '../../src/fs/tree.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const file = (path: string, content: string, mode = 0o644): FsEntry => ({ type: 'file', path, mode, uid: 0, gid: 0, mtime: 1700000000, content: bytes(content) });
const dir = (path: string, mode = 0o755): FsEntry => ({ type: 'dir', path, mode, uid: 0, gid: 0, mtime: 1700000000 });
const symlink = (path: string, target: string): FsEntry => ({ type: 'symlink', path, target, uid: 0, gid: 0, mtime: 1700000000 });
const hardlink = (path: string, target: string): FsEntry => ({ type: 'hardlink', path, target, uid: 0, gid: 0, mtime: 1700000000 });
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const paths = (t: FsTree) => t.entries().map((e) => e.path);

function throwsCode(fn: () => unknown, code: ErrorCode, ...mentions: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isPithError(e, code), `expected PithError ${code}, got ${String(e)}`);
    for (const m of mentions) assert.ok(e.message.includes(m), `message should mention ${m}: ${e.message}`);
    return true;
  });
}

describe('normalisePath', () => {
  it('makes tar-style and untidy paths absolute and canonical', () => {
    assert.equal(normalisePath('./usr//bin/../lib/x'), '/usr/lib/x');
    assert.equal(normalisePath('usr/bin/'), '/usr/bin');
    assert.equal(normalisePath('/etc/./passwd'), '/etc/passwd');
    assert.equal(normalisePath('./'), '/');
    assert.equal(normalisePath(''), '/');
    assert.equal(normalisePath('a/b/../../c'), '/c');
  });

  it('refuses a path that climbs above /', () => {
    throwsCode(() => normalisePath('../etc/passwd'), 'PATH_ESCAPES', '../etc/passwd');
    throwsCode(() => normalisePath('./usr/../../etc'), 'PATH_ESCAPES');
    throwsCode(() => normalisePath('/..'), 'PATH_ESCAPES');
  });
});

describe('FsTree.add', () => {
  it('creates missing parents as 0755 root directories owned by no package', () => {
    const t = new FsTree();
    t.add(file('usr/share/doc/hello/copyright', 'c'), 'hello');
    assert.deepEqual(paths(t), ['/usr', '/usr/share', '/usr/share/doc', '/usr/share/doc/hello', '/usr/share/doc/hello/copyright']);
    assert.deepEqual(t.get('/usr/share')!, { type: 'dir', path: '/usr/share', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    assert.equal(t.owner('/usr/share'), undefined);
    assert.equal(t.owner('/usr/share/doc/hello/copyright'), 'hello');
    assert.equal(t.get('./usr/share/doc/hello/copyright')?.path, '/usr/share/doc/hello/copyright');
  });

  it('names the package when its path escapes', () => {
    throwsCode(() => new FsTree().add(file('../etc/passwd', 'x'), 'evil'), 'PATH_ESCAPES', 'evil', '../etc/passwd');
  });

  it('accepts the identical file from a second package (Multi-Arch: same) and remembers both owners', () => {
    const t = new FsTree();
    t.add(file('/usr/share/doc/libc6/changelog.gz', 'same'), 'libc6:amd64');
    t.add(file('/usr/share/doc/libc6/changelog.gz', 'same'), 'libc6:i386');
    assert.equal(t.owner('/usr/share/doc/libc6/changelog.gz'), 'libc6:amd64');
    assert.deepEqual(t.owners('/usr/share/doc/libc6/changelog.gz'), ['libc6:amd64', 'libc6:i386']);
  });

  it('refuses a different file from another package, naming both and the path', () => {
    const t = new FsTree();
    t.add(file('/usr/bin/tool', 'one'), 'pkg-a');
    throwsCode(() => t.add(file('/usr/bin/tool', 'two'), 'pkg-b'), 'PATH_CONFLICT', '/usr/bin/tool', 'pkg-a', 'pkg-b');
    // A different mode is a different file too, and so is a symlink in its place.
    throwsCode(() => t.add(file('/usr/bin/tool', 'one', 0o755), 'pkg-b'), 'PATH_CONFLICT', 'pkg-a', 'pkg-b');
    throwsCode(() => t.add(symlink('/usr/bin/tool', 'other'), 'pkg-b'), 'PATH_CONFLICT');
    assert.equal(text(t.readFile('/usr/bin/tool')), 'one');
  });

  it('lets a package that Replaces the owner overwrite the file, and take it over', () => {
    const t = new FsTree();
    t.add(file('/usr/bin/tool', 'old'), 'pkg-a');
    t.add(file('/usr/bin/tool', 'new'), 'pkg-b', { replaces: true });
    assert.equal(text(t.readFile('/usr/bin/tool')), 'new');
    assert.equal(t.owner('/usr/bin/tool'), 'pkg-b');
  });

  it('lets a later tar member of the same package overwrite an earlier one, as extraction would', () => {
    const t = new FsTree();
    t.add(file('/etc/x', 'first'), 'pkg');
    t.add(file('/etc/x', 'second'), 'pkg');
    assert.equal(text(t.readFile('/etc/x')), 'second');
  });

  it('merges a directory over a directory: the first explicit mode wins, over an implicit parent', () => {
    const t = new FsTree();
    t.add(file('/var/lib/x/state', 's'), 'pkg-a');
    assert.equal((t.get('/var/lib/x') as { mode: number }).mode, 0o755);
    t.add(dir('/var/lib/x', 0o700), 'pkg-b');
    t.add(dir('/var/lib/x', 0o775), 'pkg-c');
    assert.equal((t.get('/var/lib/x') as { mode: number }).mode, 0o700);
    assert.deepEqual(t.owners('/var/lib/x'), ['pkg-b', 'pkg-c']);
    assert.equal(text(t.readFile('/var/lib/x/state')), 's');
  });

  it('refuses a file where a directory is, and a directory where a file is, even with Replaces', () => {
    const t = new FsTree();
    t.add(dir('/opt/app'), 'pkg-a');
    throwsCode(() => t.add(file('/opt/app', 'x'), 'pkg-b', { replaces: true }), 'PATH_CONFLICT', '/opt/app', 'pkg-a', 'pkg-b');
    t.add(file('/opt/tool', 'x'), 'pkg-a');
    throwsCode(() => t.add(dir('/opt/tool'), 'pkg-b', { replaces: true }), 'PATH_CONFLICT', '/opt/tool');
    throwsCode(() => t.add(file('/opt/tool/inside', 'y'), 'pkg-b'), 'PATH_CONFLICT', '/opt/tool', 'pkg-a', 'pkg-b');
  });

  it('follows a symlinked parent inside the tree, as extraction onto a disk would', () => {
    const t = new FsTree();
    t.add(dir('/usr/share/doc/real'), 'a');
    t.add(symlink('/usr/share/doc/alias', 'real'), 'a');
    t.add(file('/usr/share/doc/alias/copyright', 'c'), 'b');
    assert.equal(t.get('/usr/share/doc/real/copyright')?.type, 'file');
    assert.equal(t.get('/usr/share/doc/alias')?.type, 'symlink');
  });

  it('points hardlinks at the file they share content with; one to nothing is refused', () => {
    const t = new FsTree();
    t.add(file('/usr/bin/perl5.36', 'perl', 0o755), 'perl-base');
    t.add(hardlink('/usr/bin/perl', '/usr/bin/perl5.36'), 'perl-base');
    t.add(hardlink('/usr/bin/perl-again', '/usr/bin/perl'), 'perl-base');
    assert.deepEqual(t.get('/usr/bin/perl-again'), hardlink('/usr/bin/perl-again', '/usr/bin/perl5.36'));
    assert.equal(text(t.readFile('/usr/bin/perl')), 'perl');
    throwsCode(() => t.add(hardlink('/usr/bin/x', '/usr/bin/missing'), 'pkg'), 'PATH_HARDLINK_TARGET', '/usr/bin/missing', 'pkg');
    throwsCode(() => t.add(hardlink('/usr/bin/y', '/usr/bin'), 'pkg'), 'PATH_HARDLINK_TARGET');
  });
});

describe('FsTree.mergedUsr', () => {
  it('links /bin, /sbin, /lib and /lib64 into /usr', () => {
    const t = FsTree.mergedUsr();
    assert.deepEqual(t.entries(), [
      symlink('/bin', 'usr/bin'), symlink('/lib', 'usr/lib'), symlink('/lib64', 'usr/lib64'), symlink('/sbin', 'usr/sbin'),
    ].map((e) => ({ ...e, mtime: 0 })));
  });

  it('moves what packages ship under /bin, /sbin and /lib* to /usr, keeping symlink targets verbatim', () => {
    const t = FsTree.mergedUsr();
    t.add(dir('./lib'), 'libc6');
    t.add(dir('./lib/x86_64-linux-gnu'), 'libc6');
    t.add(file('./lib/x86_64-linux-gnu/libc.so.6', 'ELF', 0o755), 'libc6');
    t.add(symlink('./lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), 'libc6');
    t.add(file('./bin/sh', 'dash', 0o755), 'dash');
    t.add(hardlink('./sbin/tool', '/bin/sh'), 'dash');
    assert.equal(t.get('/usr/lib/x86_64-linux-gnu/libc.so.6')?.type, 'file');
    assert.equal(t.owner('/usr/lib/x86_64-linux-gnu/libc.so.6'), 'libc6');
    assert.equal(t.owner('/usr/lib'), 'libc6');
    assert.deepEqual(t.get('/usr/lib64/ld-linux-x86-64.so.2'), {
      ...symlink('/usr/lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'),
    });
    assert.equal((t.get('/usr/sbin/tool') as { target: string }).target, '/usr/bin/sh');
    assert.equal(t.get('/bin')?.type, 'symlink');
    // Lookups through the links land on the /usr copies.
    assert.equal(t.resolve('/lib64/ld-linux-x86-64.so.2'), undefined, 'the loader itself is not in yet');
    t.add(file('./lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', 'LD', 0o755), 'libc6');
    assert.equal(t.resolve('/lib64/ld-linux-x86-64.so.2')?.path, '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
    assert.equal(t.resolve('/bin/sh')?.path, '/usr/bin/sh');
    assert.equal(t.get('/lib/x86_64-linux-gnu/libc.so.6')?.path, '/usr/lib/x86_64-linux-gnu/libc.so.6');
  });

  it('adds /lib32 and /libx32 links only once something is shipped there', () => {
    const t = FsTree.mergedUsr();
    assert.equal(t.get('/lib32'), undefined);
    t.add(file('/lib32/libc.so.6', 'ELF32'), 'lib32c6');
    t.add(file('/libx32/libc.so.6', 'ELFx32'), 'libx32c6');
    assert.deepEqual(t.get('/lib32'), { ...symlink('/lib32', 'usr/lib32'), mtime: 0 });
    assert.deepEqual(t.get('/libx32'), { ...symlink('/libx32', 'usr/libx32'), mtime: 0 });
    assert.equal(text(t.readFile('/lib32/libc.so.6')), 'ELF32');
    assert.equal(t.get('/usr/libx32/libc.so.6')?.path, '/usr/libx32/libc.so.6');
  });

  it('accepts a package that ships the merged-/usr links itself, and refuses anything else there', () => {
    const t = FsTree.mergedUsr();
    t.add(symlink('/bin', 'usr/bin'), 'base-files');
    t.add(symlink('/lib64', '/usr/lib64'), 'base-files');
    assert.deepEqual(t.get('/bin'), { ...symlink('/bin', 'usr/bin'), mtime: 0 });
    throwsCode(() => t.add(file('/sbin', 'x'), 'pkg'), 'PATH_CONFLICT', '/sbin', 'pkg');
    throwsCode(() => t.add(symlink('/lib', 'elsewhere'), 'pkg'), 'PATH_CONFLICT', '/lib');
  });

  it('leaves a plain tree alone', () => {
    const t = new FsTree();
    t.add(file('/lib/x86_64-linux-gnu/libc.so.6', 'ELF'), 'libc6');
    assert.equal(t.get('/lib/x86_64-linux-gnu/libc.so.6')?.path, '/lib/x86_64-linux-gnu/libc.so.6');
    assert.equal(t.get('/usr'), undefined);
  });
});

describe('FsTree.resolve', () => {
  const tree = () => {
    const t = new FsTree();
    t.add(file('/usr/lib/x86_64-linux-gnu/libssl.so.3', 'ssl'), 'libssl3');
    t.add(symlink('/usr/lib/x86_64-linux-gnu/libssl.so', 'libssl.so.3'), 'libssl-dev');
    t.add(symlink('/etc/alternatives/cc', '/usr/bin/gcc-12'), 'gcc');
    t.add(file('/usr/bin/gcc-12', 'gcc', 0o755), 'gcc');
    t.add(symlink('/usr/bin/cc', '/etc/alternatives/cc'), 'gcc');
    return t;
  };

  it('follows relative and absolute links, and can stop at the last one', () => {
    const t = tree();
    assert.equal(t.resolve('/usr/lib/x86_64-linux-gnu/libssl.so')?.path, '/usr/lib/x86_64-linux-gnu/libssl.so.3');
    assert.equal(t.resolve('/usr/bin/cc')?.path, '/usr/bin/gcc-12');
    assert.equal(t.resolve('/usr/bin/cc', { followLast: false })?.type, 'symlink');
    assert.equal(text(t.readFile('/usr/bin/cc')), 'gcc');
    assert.equal(t.resolve('/usr/bin/../lib/x86_64-linux-gnu/libssl.so.3')?.path, '/usr/lib/x86_64-linux-gnu/libssl.so.3');
    assert.equal(t.resolve('/')?.type, 'dir');
    assert.equal(t.resolve('/usr/bin/none'), undefined);
    assert.equal(t.resolve('/usr/bin/gcc-12/x'), undefined);
  });

  it('resolves `..` after a link from where the link led, as the kernel does', () => {
    const t = new FsTree();
    t.add(dir('/a/b/c'));
    t.add(file('/a/b/target', 't'));
    t.add(symlink('/link', 'a/b/c'));
    assert.equal(t.resolve('/link/../target')?.path, '/a/b/target');
  });

  it('keeps a link that points outside inside the tree, like a chroot', () => {
    const t = new FsTree();
    t.add(file('/etc/shadow', 'image shadow'), 'base-passwd');
    t.add(symlink('/usr/share/evil', '../../../../etc/shadow'), 'evil');
    t.add(symlink('/usr/share/evil-abs', '/etc/shadow'), 'evil');
    assert.equal(t.resolve('/usr/share/evil')?.path, '/etc/shadow');
    assert.equal(text(t.readFile('/usr/share/evil')), 'image shadow');
    assert.equal(text(t.readFile('/usr/share/evil-abs')), 'image shadow');
    assert.equal((t.get('/usr/share/evil') as { target: string }).target, '../../../../etc/shadow');
  });

  it('gives up on a loop after MAX_SYMLINK_HOPS links', () => {
    const t = new FsTree();
    t.add(symlink('/a', 'b'));
    t.add(symlink('/b', 'a'));
    throwsCode(() => t.resolve('/a'), 'SYMLINK_LOOP', '/a');
    // A chain of exactly 40 links still resolves; 41 does not.
    const chain = (n: number) => {
      const c = new FsTree();
      c.add(file('/end', 'ok'));
      for (let i = 0; i < n; i++) c.add(symlink(`/l${i}`, i === n - 1 ? 'end' : `l${i + 1}`));
      return c;
    };
    assert.equal(MAX_SYMLINK_HOPS, 40);
    assert.equal(chain(40).resolve('/l0')?.path, '/end');
    throwsCode(() => chain(41).resolve('/l0'), 'SYMLINK_LOOP');
  });
});

describe('FsTree.remove and listing', () => {
  it('removes a directory with everything below it', () => {
    const t = new FsTree();
    t.add(file('/usr/share/doc/a/copyright', 'c'), 'a');
    t.add(file('/usr/share/doc/a/changelog.gz', 'z'), 'a');
    t.add(file('/usr/share/man/man1/a.1.gz', 'm'), 'a');
    assert.equal(t.remove('/usr/share/doc'), true);
    assert.deepEqual(paths(t), ['/usr', '/usr/share', '/usr/share/man', '/usr/share/man/man1', '/usr/share/man/man1/a.1.gz']);
    assert.equal(t.owner('/usr/share/doc/a/copyright'), undefined);
    assert.equal(t.remove('/usr/share/doc'), false);
    assert.deepEqual(t.readdir('/usr/share'), ['man']);
    // The path is free again for another package.
    t.add(file('/usr/share/doc', 'now a file'), 'b');
    assert.equal(t.owner('/usr/share/doc'), 'b');
  });

  it('hands a removed file\'s content to its surviving hardlinks', () => {
    const t = new FsTree();
    t.add(file('/usr/bin/a', 'shared', 0o755), 'p');
    t.add(hardlink('/usr/bin/b', '/usr/bin/a'), 'p');
    t.add(hardlink('/usr/bin/c', '/usr/bin/a'), 'p');
    t.remove('/usr/bin/a');
    assert.deepEqual(t.get('/usr/bin/b'), { ...file('/usr/bin/b', 'shared', 0o755) });
    assert.deepEqual(t.get('/usr/bin/c'), hardlink('/usr/bin/c', '/usr/bin/b'));
    t.remove('/usr/bin/b');
    assert.equal(t.get('/usr/bin/c')?.type, 'file');
    assert.equal(text(t.readFile('/usr/bin/c')), 'shared');
  });

  it('lists entries sorted by path, each directory before what it holds', () => {
    const t = new FsTree();
    t.add(file('/usr/lib/x', 'x'));
    t.add(file('/usr/lib-extra/y', 'y'));
    t.add(file('/etc/z', 'z'));
    const ps = paths(t);
    assert.deepEqual(ps, [...ps].sort());
    for (const [i, p] of ps.entries()) {
      const parent = p.slice(0, p.lastIndexOf('/'));
      if (parent !== '') assert.ok(ps.indexOf(parent) < i, `${parent} before ${p}`);
    }
    assert.ok(!ps.includes('/'));
  });

  it('refuses to remove the root', () => {
    throwsCode(() => new FsTree().remove('/'), 'PATH_INVALID');
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { applyAccounts } from '../../src/assemble/accounts.ts';
import { readDeb } from '../../src/debian/deb.ts';
import { isPithError } from '../../src/errors.ts';
import { FsTree } from '../../src/fs/tree.ts';
import { missingTools } from '../fixtures/apt.ts';

const EPOCH = 1_700_000_000;
const text = (tree: FsTree, path: string) => Buffer.from(tree.readFile(path)!).toString('utf8');
const file = (path: string, content: string) => ({ type: 'file' as const, path, mode: 0o644, uid: 0, gid: 0, mtime: 5, content: new Uint8Array(Buffer.from(content)) });

describe('applyAccounts', () => {
  it('writes distroless-style defaults: root, nobody/nogroup, nonroot 65532, nologin shells, files-only nsswitch', () => {
    const tree = FsTree.mergedUsr();
    const { user, report } = applyAccounts(tree, undefined, { sourceDateEpoch: EPOCH });
    assert.equal(user, '65532:65532');
    assert.equal(
      text(tree, '/etc/passwd'),
      'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n',
    );
    assert.equal(text(tree, '/etc/group'), 'root:x:0:\nnonroot:x:65532:\nnogroup:x:65534:\n');
    const nss = text(tree, '/etc/nsswitch.conf');
    assert.match(nss, /^passwd:\s+files$/m);
    assert.match(nss, /^hosts:\s+files dns$/m);
    assert.deepEqual(tree.get('/root'), { type: 'dir', path: '/root', mode: 0o700, uid: 0, gid: 0, mtime: EPOCH });
    assert.deepEqual(tree.get('/home/nonroot'), { type: 'dir', path: '/home/nonroot', mode: 0o700, uid: 65532, gid: 65532, mtime: EPOCH });
    assert.equal(tree.get('/nonexistent'), undefined);
    assert.deepEqual(tree.get('/tmp'), { type: 'dir', path: '/tmp', mode: 0o1777, uid: 0, gid: 0, mtime: EPOCH });
    for (const p of ['/etc/passwd', '/etc/group', '/etc/nsswitch.conf']) {
      const e = tree.get(p)!;
      assert.equal(e.mtime, EPOCH);
      assert.equal(e.type === 'file' && e.mode, 0o644);
    }
    assert.ok(report.some((l) => l.includes('/home/nonroot')));
  });

  it('adds the spec accounts, sorted by id whatever order they are given in, with own groups where needed', () => {
    const users = [
      { name: 'zed', uid: 2000 },
      { name: 'app', uid: 1000, gid: 3000, home: '/srv/app' },
    ];
    const groups = [{ name: 'shared', gid: 3000 }];
    const a = FsTree.mergedUsr();
    const b = FsTree.mergedUsr();
    const ra = applyAccounts(a, { users, groups, 'run-as': 'app' }, { sourceDateEpoch: EPOCH });
    const rb = applyAccounts(b, { users: [...users].reverse(), groups, 'run-as': 1000 }, { sourceDateEpoch: EPOCH });
    assert.equal(ra.user, '1000:3000');
    assert.equal(rb.user, '1000:3000');
    assert.deepEqual(a.entries(), b.entries());
    assert.match(text(a, '/etc/passwd'), /^app:x:1000:3000:app:\/srv\/app:\/sbin\/nologin\nzed:x:2000:2000:zed:\/home\/zed:\/sbin\/nologin\n/m);
    assert.match(text(a, '/etc/group'), /^zed:x:2000:\nshared:x:3000:\n/m);
    assert.deepEqual(a.get('/srv/app'), { type: 'dir', path: '/srv/app', mode: 0o700, uid: 1000, gid: 3000, mtime: EPOCH });
  });

  it('accepts re-declaring a default identically, refuses duplicates naming both', () => {
    applyAccounts(FsTree.mergedUsr(), { users: [{ name: 'nonroot', uid: 65532 }] }, { sourceDateEpoch: EPOCH });
    const cases: Array<[Parameters<typeof applyAccounts>[1], RegExp]> = [
      [{ users: [{ name: 'a', uid: 10 }, { name: 'b', uid: 10 }] }, /user b \(uid 10\).*users\[1\].*user a \(uid 10\).*users\[0\]/],
      [{ users: [{ name: 'a', uid: 10 }, { name: 'a', uid: 11 }] }, /user a \(uid 11\).*user a \(uid 10\)/],
      [{ users: [{ name: 'nonroot', uid: 1000 }] }, /user nonroot \(uid 1000\).*user nonroot \(uid 65532\) from pith default/],
      [{ users: [{ name: 'app', uid: 0 }] }, /user app \(uid 0\).*user root \(uid 0\)/],
      [{ groups: [{ name: 'g', gid: 5 }, { name: 'h', gid: 5 }] }, /group h \(gid 5\).*group g \(gid 5\)/],
      [{ groups: [{ name: 'nonroot', gid: 7 }] }, /group nonroot \(gid 7\).*group nonroot \(gid 65532\)/],
    ];
    for (const [accounts, message] of cases) {
      assert.throws(() => applyAccounts(FsTree.mergedUsr(), accounts, { sourceDateEpoch: EPOCH }), (e) => isPithError(e, 'ACCOUNTS_DUPLICATE') && message.test(e.message));
    }
  });

  it('refuses a run-as user the image does not define', () => {
    for (const runAs of ['ghost', 4242, '4242']) {
      assert.throws(
        () => applyAccounts(FsTree.mergedUsr(), { 'run-as': runAs }, { sourceDateEpoch: EPOCH }),
        (e) => isPithError(e, 'ACCOUNTS_RUN_AS') && e.message.includes(JSON.stringify(runAs)) && e.message.includes('nonroot'),
      );
    }
    assert.equal(applyAccounts(FsTree.mergedUsr(), { 'run-as': 'root' }, { sourceDateEpoch: EPOCH }).user, '0:0');
    assert.equal(applyAccounts(FsTree.mergedUsr(), { 'run-as': '65534' }, { sourceDateEpoch: EPOCH }).user, '65534:65534');
  });

  it('merges a shipped /etc/passwd and /etc/group without duplicates and fixes /tmp and an existing home', () => {
    const tree = FsTree.mergedUsr();
    tree.add(file('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n'), 'pkg');
    tree.add(file('/etc/group', 'root:x:0:\ndaemon:x:1:\n'), 'pkg');
    tree.add({ type: 'dir', path: '/tmp', mode: 0o755, uid: 0, gid: 0, mtime: 5 }, 'base-files');
    tree.add(file('/tmp/.keep', ''), 'base-files');
    applyAccounts(tree, { users: [{ name: 'daemon', uid: 1, gid: 1, home: '/usr/sbin' }] }, { sourceDateEpoch: EPOCH });
    assert.equal(
      text(tree, '/etc/passwd'),
      'root:x:0:0:root:/root:/sbin/nologin\ndaemon:x:1:1:daemon:/usr/sbin:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n',
    );
    assert.equal(text(tree, '/etc/group'), 'root:x:0:\ndaemon:x:1:\nnonroot:x:65532:\nnogroup:x:65534:\n');
    assert.equal(tree.get('/tmp')!.type === 'dir' && (tree.get('/tmp') as { mode: number }).mode, 0o1777);
    assert.deepEqual(tree.owners('/tmp'), ['base-files']);
    assert.equal(tree.owner('/tmp/.keep'), 'base-files', 'what /tmp held is kept');
    assert.equal(tree.get('/usr/sbin'), undefined, 'a system account from a package gets no home made for it');
  });

  it('keeps a shell that is in the image', () => {
    const tree = FsTree.mergedUsr();
    tree.add(file('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n'), 'pkg');
    tree.add({ ...file('/usr/bin/bash', '#!'), mode: 0o755 }, 'bash');
    applyAccounts(tree, undefined, { sourceDateEpoch: EPOCH });
    assert.match(text(tree, '/etc/passwd'), /^root:x:0:0:root:\/root:\/bin\/bash$/m);
  });

  it('rejects a malformed shipped passwd naming the file and line', () => {
    const tree = FsTree.mergedUsr();
    tree.add(file('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nbroken:x:1\n'), 'pkg');
    assert.throws(() => applyAccounts(tree, undefined, { sourceDateEpoch: EPOCH }), (e) => isPithError(e, 'ACCOUNTS_INVALID') && /\/etc\/passwd:2 \(package pkg\)/.test(e.message));
  });

  describe('with the real base-passwd', () => {
    const skip = missingTools({ 'apt-get': 'apt', 'dpkg-deb': 'dpkg' });
    const dir = mkdtempSync(join(tmpdir(), 'pith-accounts-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    it('keeps every base-passwd entry and adds ours, which glibc-style parsing accepts', { skip }, async (t) => {
      const dl = spawnSync('apt-get', ['download', 'base-passwd'], { cwd: dir, encoding: 'utf8' });
      if (dl.status !== 0) {
        if (process.env.PITH_REQUIRE_INTEGRATION === '1') assert.fail(`apt-get download base-passwd failed: ${dl.stderr}`);
        t.skip(`apt-get download base-passwd failed (offline?): ${dl.stderr.trim().split('\n').pop()}`);
        return;
      }
      const debFile = spawnSync('sh', ['-c', 'ls base-passwd_*.deb'], { cwd: dir, encoding: 'utf8' }).stdout.trim();
      const deb = await readDeb(new Uint8Array(readFileSync(join(dir, debFile))), debFile);
      const tree = FsTree.mergedUsr();
      for (const e of deb.entries) tree.add(e, 'base-passwd');
      const master = (name: string) => Buffer.from(tree.readFile(`/usr/share/base-passwd/${name}.master`)!).toString().trim().split('\n');
      applyAccounts(tree, { users: [{ name: 'app', uid: 1000 }] }, { sourceDateEpoch: EPOCH });
      const passwd = text(tree, '/etc/passwd').trim().split('\n');
      const group = text(tree, '/etc/group').trim().split('\n');
      const names = (lines: string[]) => lines.map((l) => l.split(':')[0]);
      for (const l of master('passwd')) {
        const f = l.split(':');
        assert.ok(passwd.some((p) => p.split(':').slice(0, 6).join(':') === f.slice(0, 6).join(':')), `kept ${l}`);
      }
      for (const l of master('group')) assert.ok(group.includes(l), `kept ${l}`);
      assert.equal(new Set(names(passwd)).size, passwd.length);
      assert.equal(new Set(passwd.map((l) => l.split(':')[2])).size, passwd.length);
      assert.equal(new Set(names(group)).size, group.length);
      assert.ok(names(passwd).includes('nonroot') && names(passwd).includes('app'));
      assert.ok(group.includes('nogroup:*:65534:'), "base-passwd's nogroup is kept as shipped, not duplicated");
      for (const l of passwd) assert.equal(l.split(':')[6], '/sbin/nologin', l);
    });
  });
});

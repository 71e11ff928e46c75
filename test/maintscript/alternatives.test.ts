import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ALTERNATIVES_ADMIN_DIR, ALTERNATIVES_DIR, applyAlternatives, configureOrder, UpdateAlternatives, UpdateAlternativesError } from '../../src/maintscript/alternatives.ts';
import { trimPaths } from '../../src/assemble/paths.ts';
import { readDeb, type Deb } from '../../src/debian/deb.ts';
import { FsTree } from '../../src/fs/tree.ts';
import { readContent } from '../../src/fs/content.ts';
import { missingTools } from '../fixtures/apt.ts';

const EPOCH = 1_700_000_000;
const scratch = mkdtempSync(join(tmpdir(), 'pith-alternatives-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const file = (path: string, content = 'x', mode = 0o755) => ({ type: 'file' as const, path, mode, uid: 0, gid: 0, mtime: 0, content: bytes(content) });
const text = (tree: FsTree, path: string) => Buffer.from(tree.readFile(path) ?? new Uint8Array()).toString('utf8');
const pkg = (name: string, postinst: string, control: Record<string, string> = {}) => ({
  name,
  architecture: 'amd64',
  control: { package: name, ...control },
  controlFiles: new Map([['postinst', bytes(postinst)]]),
});

/** What a path is, without following a symlink in its last component: in the image tree, or below a root on disk. */
function describeTree(tree: FsTree, path: string): string {
  const e = tree.resolve(path, { followLast: false });
  return e === undefined ? 'missing' : e.type === 'symlink' ? `-> ${e.target}` : e.type;
}
function describeDisk(root: string, path: string): string {
  try {
    const st = lstatSync(join(root, path));
    return st.isSymbolicLink() ? `-> ${readlinkSync(join(root, path))}` : st.isDirectory() ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

/** Everything update-alternatives leaves: each admin file, each /etc/alternatives link, and each group's links. */
function stateOfTree(tree: FsTree): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of tree.readdir(ALTERNATIVES_ADMIN_DIR) ?? []) {
    const admin = text(tree, `${ALTERNATIVES_ADMIN_DIR}/${name}`);
    out[`admin ${name}`] = admin;
    for (const link of linksOf(admin)) out[`link ${link}`] = describeTree(tree, link);
  }
  for (const name of tree.readdir(ALTERNATIVES_DIR) ?? []) out[`alt ${name}`] = describeTree(tree, `${ALTERNATIVES_DIR}/${name}`);
  return out;
}
function stateOfDisk(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const admin = join(root, ALTERNATIVES_ADMIN_DIR);
  for (const name of existsSync(admin) ? readdirSync(admin).sort() : []) {
    const content = readFileSync(join(admin, name), 'utf8');
    out[`admin ${name}`] = content;
    for (const link of linksOf(content)) out[`link ${link}`] = describeDisk(root, link);
  }
  const alt = join(root, ALTERNATIVES_DIR);
  for (const name of existsSync(alt) ? readdirSync(alt).sort() : []) out[`alt ${name}`] = describeDisk(root, `${ALTERNATIVES_DIR}/${name}`);
  return out;
}
function linksOf(admin: string): string[] {
  const lines = admin.split('\n');
  const links = [lines[1]!];
  for (let i = 2; lines[i] !== ''; i += 2) links.push(lines[i + 1]!);
  return links;
}

/** A root on disk with the merged-/usr links a bookworm system has, for the real update-alternatives to work in. */
function oracleRoot(name: string): string {
  const root = join(scratch, name);
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'etc/alternatives', 'var/lib/dpkg/alternatives', 'var/log']) mkdirSync(join(root, d), { recursive: true });
  for (const d of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${d}`, join(root, d));
  return root;
}

/** The real update-alternatives, confined to `root`. */
function realUpdateAlternatives(root: string, args: string[]) {
  return spawnSync('update-alternatives', ['--root', root, '--log', '/var/log/alternatives.log', ...args], { encoding: 'utf8' });
}

describe('UpdateAlternatives (the model of dpkg\'s update-alternatives)', () => {
  it('writes LINK → /etc/alternatives/NAME → PATH and the admin file, skipping slaves whose file is missing', () => {
    const tree = FsTree.mergedUsr();
    tree.add(file('/usr/bin/mawk'));
    const ua = new UpdateAlternatives(tree, EPOCH);
    ua.run(['--install', '/usr/bin/awk', 'awk', '/usr/bin/mawk', '5', '--slave', '/usr/share/man/man1/awk.1.gz', 'awk.1.gz', '/usr/share/man/man1/mawk.1.gz', '--slave', '/usr/bin/nawk', 'nawk', '/usr/bin/mawk']);
    assert.deepEqual(tree.get('/usr/bin/awk'), { type: 'symlink', path: '/usr/bin/awk', target: '/etc/alternatives/awk', uid: 0, gid: 0, mtime: EPOCH });
    assert.equal(describeTree(tree, '/etc/alternatives/awk'), '-> /usr/bin/mawk');
    assert.equal(describeTree(tree, '/usr/bin/nawk'), '-> /etc/alternatives/nawk');
    assert.equal(describeTree(tree, '/usr/share/man/man1/awk.1.gz'), 'missing', 'the man page was not there to link to');
    assert.equal(describeTree(tree, '/etc/alternatives/awk.1.gz'), 'missing');
    assert.equal(text(tree, '/var/lib/dpkg/alternatives/awk'), 'auto\n/usr/bin/awk\nawk.1.gz\n/usr/share/man/man1/awk.1.gz\nnawk\n/usr/bin/nawk\n\n/usr/bin/mawk\n5\n/usr/share/man/man1/mawk.1.gz\n/usr/bin/mawk\n\n');
    assert.equal(tree.readFile('/usr/bin/awk')?.toString(), bytes('x').toString(), 'the link resolves to mawk inside the image');
  });

  it('refuses what update-alternatives refuses, changing nothing', () => {
    const tree = FsTree.mergedUsr();
    tree.add(file('/usr/bin/a'));
    const ua = new UpdateAlternatives(tree, EPOCH);
    const refuses = (args: string[], message: RegExp) => assert.throws(() => ua.run(args), (e) => e instanceof UpdateAlternativesError && message.test(e.message));
    refuses(['--install', '/usr/bin/x', 'x', '/usr/bin/missing', '1'], /alternative path \/usr\/bin\/missing doesn't exist/);
    refuses(['--install', '/no/such/dir/x', 'x', '/usr/bin/a', '1'], /error creating symbolic link/);
    refuses(['--install', '/usr/bin/x', 'x', '/usr/bin/a', 'high'], /priority must be an integer/);
    refuses(['--install', 'usr/bin/x', 'x', '/usr/bin/a', '1'], /not absolute/);
    refuses(['--config', 'x'], /asks a person/);
    refuses(['--altdir', '/tmp', '--install', '/usr/bin/x', 'x', '/usr/bin/a', '1'], /only layout pith writes/);
    assert.equal(tree.get('/etc/alternatives'), undefined, 'nothing was written');
    ua.run(['--install', '/usr/bin/x', 'x', '/usr/bin/a', '1']);
    refuses(['--install', '/usr/bin/x', 'y', '/usr/bin/a', '1'], /already managed by x/);
  });

  const skip = missingTools({ 'update-alternatives': 'dpkg' });
  it('agrees with the real update-alternatives, call by call: ties, manual choices, removals, renamed links, files in the way', { skip }, () => {
    const files = ['/usr/bin/one', '/usr/bin/two', '/usr/bin/three', '/usr/share/man/man1/one.1.gz', '/usr/share/man/man1/three.1.gz', '/usr/bin/taken'];
    const tree = FsTree.mergedUsr();
    const root = oracleRoot('calls');
    for (const f of files) {
      tree.add(file(f));
      mkdirSync(join(root, dirname(f)), { recursive: true });
      writeFileSync(join(root, f), 'x');
    }
    const ua = new UpdateAlternatives(tree, EPOCH);
    const man = (n: string, t: string) => ['--slave', `/usr/share/man/man1/${n}.1.gz`, `${n}.1.gz`, `/usr/share/man/man1/${t}.1.gz`];
    const calls: string[][] = [
      ['--install', '/usr/bin/tool', 'tool', '/usr/bin/one', '10', ...man('tool', 'one')],
      ['--install', '/usr/bin/tool', 'tool', '/usr/bin/two', '10', ...man('tool', 'two')], // a tie: the first stays
      ['--install', '/usr/bin/tool', 'tool', '/usr/bin/three', '20', ...man('tool', 'three'), '--slave', '/usr/bin/tool-extra', 'tool-extra', '/usr/bin/three'],
      ['--set', 'tool', '/usr/bin/two'],
      ['--install', '/usr/bin/tool', 'tool', '/usr/bin/one', '50'], // manual mode: no switch
      ['--auto', 'tool'],
      ['--remove', 'tool', '/usr/bin/one'],
      ['--install', '/bin/tool', 'tool', '/usr/bin/three', '20', '--slave', '/usr/bin/tool2', 'tool-extra', '/usr/bin/three'], // links move
      ['--install', '/usr/bin/taken', 'taken', '/usr/bin/one', '1'], // a real file is never replaced
      ['--install', '/usr/bin/pager', 'pager', '/usr/bin/two', '-100'],
      ['--remove', 'nothing', '/usr/bin/one'],
      ['--remove', 'pager', '/usr/bin/two'], // the last choice: the group goes
      ['--install', '/usr/bin/late', 'late', '/usr/bin/missing', '1'],
      ['--install', '/usr/bin/tool2', 'other', '/usr/bin/one', '1'], // a slave link of tool
    ];
    const seen: number[] = [];
    for (const args of calls) {
      const real = realUpdateAlternatives(root, args);
      let mine = 0;
      try {
        ua.run(args);
      } catch (e) {
        if (!(e instanceof UpdateAlternativesError)) throw e;
        mine = 2;
      }
      assert.equal(mine, real.status, `${args.join(' ')}: exit status (${real.stderr.trim()})`);
      assert.deepEqual(stateOfTree(tree), stateOfDisk(root), `after update-alternatives ${args.join(' ')}`);
      seen.push(mine);
    }
    assert.deepEqual(seen, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2]);
    assert.equal(describeTree(tree, '/usr/bin/taken'), 'file');
    assert.equal(describeTree(tree, '/etc/alternatives/tool'), '-> /usr/bin/three');
  });
});

describe('applyAlternatives', () => {
  it('covers a postinst whose only job is update-alternatives, and says what else a script does', () => {
    const tree = FsTree.mergedUsr();
    tree.add(file('/usr/bin/mawk'));
    tree.add(file('/usr/bin/gawk'));
    const mawk = pkg('mawk', '#!/bin/sh\nset -e\nif [ "$1" = "configure" ]; then\n  update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \\\n    --slave /usr/bin/nawk nawk /usr/bin/mawk\nfi\n');
    const gawk = pkg('gawk', '#!/bin/sh\nset -e\nupdate-alternatives --quiet --install /usr/bin/awk awk /usr/bin/gawk 10\nmkdir -p /var/lib/gawk\n');
    const odd = pkg('odd', '#!/bin/sh\nupdate-alternatives --install /usr/bin/odd odd "$(cat /etc/odd-choice)" 10\nif [ -n "$ODD" ]; then update-alternatives --install /usr/bin/o o /usr/bin/mawk 1; fi\n');
    const broken = pkg('broken', '#!/bin/sh\nupdate-alternatives --install /usr/bin/b b /usr/bin/b 1 "\n');
    const result = applyAlternatives(tree, [odd, gawk, mawk, broken], { architecture: 'amd64', sourceDateEpoch: EPOCH });
    assert.deepEqual(result.groups, [{ name: 'awk', link: '/usr/bin/awk', status: 'auto', value: '/usr/bin/gawk', choices: [{ path: '/usr/bin/gawk', priority: 10 }, { path: '/usr/bin/mawk', priority: 5 }] }]);
    assert.deepEqual(result.covered, { 'mawk/postinst': 'update-alternatives links written by pith (awk)' });
    assert.equal(result.notes['gawk/postinst'], 'update-alternatives links written by pith (awk); not replaced, other commands: line 4: mkdir -p /var/lib/gawk');
    assert.match(result.notes['odd/postinst']!, /line 2: .*its arguments depend on the output of "cat \/etc\/odd-choice"/);
    assert.match(result.notes['odd/postinst']!, /line 3: .*runs only depending on the condition "\[ -n "\$ODD" \]" at line 3/);
    assert.match(result.notes['broken/postinst']!, /not understood: line 2: expected a closing double quote/);
    // gawk (10) beats mawk (5); mawk's nawk slave has no counterpart in gawk's registration, so it goes.
    assert.equal(describeTree(tree, '/etc/alternatives/awk'), '-> /usr/bin/gawk');
    assert.equal(describeTree(tree, '/usr/bin/nawk'), 'missing');
  });

  it('configures a package after the packages it depends on, otherwise by name', () => {
    const p = (name: string, control: Record<string, string> = {}) => ({ name, control });
    const order = configureOrder([p('b'), p('a', { depends: 'c | b, x' }), p('c', { 'pre-depends': 'd' }), p('d', { depends: 'a' }), p('e', { provides: 'x' })]);
    // a needs c (the first alternative there) and x (which e provides); c needs d, whose need of a closes a cycle.
    assert.deepEqual(order.map((x) => x.name), ['d', 'c', 'e', 'a', 'b']);
  });

  const skip = missingTools({ 'apt-get': 'apt', 'dpkg-deb': 'dpkg', 'update-alternatives': 'dpkg', tar: 'tar' });
  it('leaves the image as the real postinsts with the real update-alternatives leave a root, trimmed or not', { skip }, async (t) => {
    const names = ['mawk', 'gawk', 'nano', 'vim-tiny', 'ed', 'libblas3', 'liblapack3', 'libopenblas0-pthread', 'less', 'netcat-openbsd', 'iptables', 'pinentry-curses', 'xz-utils', 'fakeroot', 'tar', 'rename'];
    const dir = join(scratch, 'debs');
    mkdirSync(dir);
    const dl = spawnSync('apt-get', ['download', ...names], { cwd: dir, encoding: 'utf8' });
    if (dl.status !== 0) {
      if (process.env.PITH_REQUIRE_INTEGRATION === '1') assert.fail(`apt-get download failed: ${dl.stderr}`);
      return t.skip(`apt-get download failed (offline?): ${dl.stderr.trim().split('\n').pop()}`);
    }
    const debs: Array<{ path: string; deb: Deb }> = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.deb')).sort()) {
      debs.push({ path: join(dir, f), deb: await readDeb(new Uint8Array(readFileSync(join(dir, f))), f) });
    }
    for (const trim of [true, false]) {
      const tree = FsTree.mergedUsr();
      for (const { deb } of debs) for (const e of deb.entries) tree.add(e, deb.control['package']);
      const trimmed = trim ? trimPaths(tree) : [];
      const packages = debs.map(({ deb }) => ({ name: deb.control['package']!, architecture: deb.control['architecture']!, control: deb.control, controlFiles: deb.controlFiles }));
      const result = applyAlternatives(tree, packages, { architecture: 'amd64', sourceDateEpoch: EPOCH });

      // The oracle: the same packages unpacked into a root, the same paths trimmed, then each postinst run for
      // real in the same order, with nothing but the shell's builtins and update-alternatives confined to the root.
      const root = oracleRoot(trim ? 'trimmed' : 'full');
      for (const { path } of debs) {
        const x = spawnSync('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --keep-directory-symlink', 'x', path, root], { encoding: 'utf8' });
        assert.equal(x.status, 0, x.stderr);
      }
      for (const { path } of trimmed) rmSync(join(root, path), { recursive: true, force: true });
      const shim = join(scratch, 'shim');
      mkdirSync(shim, { recursive: true });
      writeFileSync(join(shim, 'update-alternatives'), `#!/bin/sh\nexec /usr/bin/update-alternatives --root "$PITH_ROOT" --log /var/log/alternatives.log "$@"\n`);
      chmodSync(join(shim, 'update-alternatives'), 0o755);
      for (const p of configureOrder(packages)) {
        const script = p.controlFiles.get('postinst');
        if (!script) continue;
        const file = join(scratch, `${p.name}.postinst`);
        writeFileSync(file, readContent(script));
        const r = spawnSync('/bin/sh', [file, 'configure', ''], { cwd: root, encoding: 'utf8', env: { PATH: shim, PITH_ROOT: root, DPKG_MAINTSCRIPT_PACKAGE: p.name, DPKG_MAINTSCRIPT_NAME: 'postinst', DPKG_ROOT: '' } });
        assert.equal(r.status, 0, `${p.name} postinst: ${r.stderr}`);
      }
      const state = stateOfDisk(root);
      assert.ok(Object.keys(state).length > 100, JSON.stringify(state));
      assert.deepEqual(stateOfTree(tree), state, trim ? 'trimmed' : 'untrimmed');
      if (trim) assert.equal(state['link /usr/share/man/man1/awk.1.gz'], 'missing', 'trimmed man pages get no slave link');
      else assert.equal(state['link /usr/share/man/man1/awk.1.gz'], '-> /etc/alternatives/awk.1.gz');

      const byName = new Map(result.groups.map((g) => [g.name, g]));
      assert.equal(byName.get('editor')?.value, '/bin/nano', 'nano (40) beats vim-tiny (15) and ed (-100)');
      assert.equal(byName.get('awk')?.value, '/usr/bin/gawk');
      assert.equal(byName.get('libblas.so.3-x86_64-linux-gnu')?.value, '/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3');
      assert.equal(tree.resolve('/usr/bin/lzma')?.path, '/usr/bin/xz', 'xz-utils builds its slaves with a function inside $( )');
      for (const p of names) assert.match(result.covered[`${p}/postinst`] ?? '', /^update-alternatives links written by pith/, `${p}: ${result.notes[`${p}/postinst`]}`);
    }
  });
});

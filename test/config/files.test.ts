import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isPithError, loadSpec, parseSpec, specElfNeeds, type FsEntry } from 'pith';
import { readSpecFiles } from '../../src/config/files.ts';
import { readContent } from '../../src/fs/content.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-files-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

/**
 * A project directory holding a spec (whose `files:` start on line 3, one `- from:` line then one line per other
 * key) beside `secret`, a file outside the project that no spec there may copy.
 */
function project(files: string, extra = ''): { dir: string; spec: string; outside: string } {
  const root = join(scratch, `p${n++}`);
  const dir = join(root, 'proj');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(root, 'secret'), 'the host secret\n');
  const spec = join(dir, 'pith.yaml');
  writeFileSync(spec, `name: t\npackages: [libc6]\n${extra}files:\n${files}`);
  return { dir, spec, outside: root };
}

const read = (spec: string) => readSpecFiles(loadSpec(spec), 1700000000);

/** Type, path, mode, owner and target or content of each entry: everything but the bytes' identity. */
function shape(entries: FsEntry[]): string[] {
  return entries.map((e) => {
    const mode = e.type === 'file' || e.type === 'dir' ? ` ${e.mode.toString(8).padStart(4, '0')}` : '';
    const what = e.type === 'symlink' ? ` -> ${e.target}` : e.type === 'file' ? ` ${JSON.stringify(new TextDecoder().decode(readContent(e.content)))}` : '';
    return `${e.type} ${e.path}${mode} ${e.uid}:${e.gid} @${e.mtime}${what}`;
  });
}

describe('files: from: stays inside the build context', () => {
  const refused = (spec: string, line: RegExp) => (e: unknown) => isPithError(e, 'PATH_ESCAPES') && line.test((e as Error).message);

  test('a path that climbs out (../../etc/shadow, deeper than any temp directory) is refused with file:line', () => {
    const { spec } = project('  - from: ../../../../../../../../../../etc/shadow\n    to: /etc/shadow\n');
    assert.throws(() => read(spec), refused(spec, new RegExp(`^${spec}:4:11: files\\[0\\]\\.from: expected a path inside the spec's directory .*found "\\.\\./\\.\\./.*etc/shadow", .*outside it; set context: in the spec`)));
  });

  test('../secret beside the project is refused; with context: .. it is copied', () => {
    const a = project('  - from: ../secret\n    to: /s\n');
    assert.throws(() => read(a.spec), refused(a.spec, /:4:11: files\[0\]\.from: .*found "\.\.\/secret"/));
    const b = project('  - from: ../secret\n    to: /s\n', 'context: ..\n');
    assert.deepEqual(shape(read(b.spec)), ['file /s 0644 0:0 @1700000000 "the host secret\\n"']);
    // The widened context ends where it says: one more level up is still refused, and names the context.
    const c = project('  - from: ../../secret\n    to: /s\n', 'context: ..\n');
    assert.throws(() => read(c.spec), refused(c.spec, /:5:11: files\[0\]\.from: expected a path inside the context .* \(context: \.\.\), found "\.\.\/\.\.\/secret"/));
  });

  test('a caller-set context root bounds what a spec may widen its context to (CI building untrusted specs)', () => {
    // The spec widens its context to the directory holding the secret: allowed by the spec alone…
    const widened = project('  - from: ../secret\n    to: /s\n', 'context: ..\n');
    assert.equal(read(widened.spec).length, 1);
    // …refused when the caller holds every context to the project directory, at the context: line.
    assert.throws(
      () => readSpecFiles(loadSpec(widened.spec, { contextRoot: widened.dir }), 0),
      (e) => isPithError(e, 'PATH_ESCAPES') && new RegExp(`^${widened.spec}:3:10: expected a build context inside the context root ${realpathSync(widened.dir)} that the caller set, found the context ${widened.outside}`).test(e.message),
    );
    // The same bound from the environment, as a CI job sets it once for every command.
    process.env.PITH_CONTEXT_ROOT = widened.dir;
    try {
      assert.equal(loadSpec(widened.spec).contextRoot, widened.dir);
      assert.throws(() => read(widened.spec), (e) => isPithError(e, 'PATH_ESCAPES'));
      // A spec that keeps to its own directory builds as before under the bound.
      const own = project('  - from: data\n    to: /data\n');
      writeFileSync(join(own.dir, 'data'), 'x');
      assert.throws(() => read(own.spec), (e) => isPithError(e, 'PATH_ESCAPES')); // own.dir is not inside widened.dir
      process.env.PITH_CONTEXT_ROOT = scratch;
      assert.deepEqual(shape(read(own.spec)), ['file /data 0644 0:0 @1700000000 "x"']);
    } finally {
      delete process.env.PITH_CONTEXT_ROOT;
    }
    // A context root that does not exist is an error, never "no bound".
    assert.throws(() => readSpecFiles(loadSpec(widened.spec, { contextRoot: join(scratch, 'missing') }), 0), (e) => isPithError(e, 'SPEC_FILE_MISSING') && /context root .*missing/.test(e.message));
  });

  test('an absolute path to the host (/etc/shadow) is refused', () => {
    const { spec } = project('  - from: /etc/shadow\n    to: /etc/shadow\n');
    assert.throws(() => read(spec), refused(spec, /:4:11: files\[0\]\.from: .*found "\/etc\/shadow", outside it/));
  });

  test('a symlink in the project pointing out of it is refused, naming where it leads', () => {
    const { dir, spec, outside } = project('  - from: innocent.txt\n    to: /innocent.txt\n');
    symlinkSync(join(outside, 'secret'), join(dir, 'innocent.txt'));
    assert.throws(() => read(spec), refused(spec, new RegExp(`:4:11: files\\[0\\]\\.from: .*found "innocent\\.txt", which resolves to ${realpathSync(outside)}/secret, outside it`)));
    const shadow = project('  - from: shadow\n    to: /shadow\n');
    symlinkSync('/etc/shadow', join(shadow.dir, 'shadow'));
    assert.throws(() => read(shadow.spec), refused(shadow.spec, /found "shadow", which resolves to \/etc\/shadow/));
  });

  test('a symlinked parent directory is refused: the path is held to the context after every link is resolved', () => {
    const { dir, spec } = project('  - from: up/secret\n    to: /s\n  - from: etc/shadow\n    to: /t\n');
    symlinkSync('..', join(dir, 'up'));
    symlinkSync('/etc', join(dir, 'etc'));
    assert.throws(() => read(spec), refused(spec, /:4:11: files\[0\]\.from: .*found "up\/secret", which resolves to .*\/secret, outside it/));
    writeFileSync(spec, `name: t\npackages: [libc6]\nfiles:\n  - from: etc/shadow\n    to: /t\n`);
    assert.throws(() => read(spec), refused(spec, /:4:11: files\[0\]\.from: .*found "etc\/shadow", which resolves to \/etc\/shadow/));
    // Nothing there: still refused as a way out, so the error never tells what the host holds outside.
    writeFileSync(spec, `name: t\npackages: [libc6]\nfiles:\n  - from: up/no-such-file\n    to: /t\n  - from: gone\n    to: /u\n`);
    assert.throws(() => read(spec), refused(spec, /:4:11: files\[0\]\.from: .*found "up\/no-such-file", which leads outside it/));
    symlinkSync('/etc/no-such-file', join(dir, 'gone'));
    writeFileSync(spec, `name: t\npackages: [libc6]\nfiles:\n  - from: gone\n    to: /u\n`);
    assert.throws(() => read(spec), refused(spec, /:4:11: files\[0\]\.from: .*found "gone", which leads outside it/));
  });

  test('a symlink that stays inside the project is followed, and the file lands under the name written', () => {
    const { dir, spec } = project('  - from: current\n    to: /opt/\n');
    writeFileSync(join(dir, 'v2'), 'two\n');
    symlinkSync('v2', join(dir, 'current'));
    assert.deepEqual(shape(read(spec)), ['file /opt/current 0644 0:0 @1700000000 "two\\n"']);
  });

  test('a missing source, a dangling link and a missing context say what they found', () => {
    const { dir, spec } = project('  - from: nope\n    to: /x\n');
    assert.throws(() => read(spec), (e) => isPithError(e, 'SPEC_FILE_MISSING') && /:4:11: files\[0\]\.from: expected a file or directory at .*\/nope, found nothing$/.test(e.message));
    symlinkSync('gone', join(dir, 'nope'));
    assert.throws(() => read(spec), (e) => isPithError(e, 'SPEC_FILE_MISSING') && /found a symlink to gone, which leads nowhere$/.test(e.message));
    const c = project('  - from: x\n    to: /x\n', 'context: ../nowhere\n');
    assert.throws(() => read(c.spec), (e) => isPithError(e, 'SPEC_FILE_MISSING') && /:3:10: context: expected a directory at .*\/nowhere, found nothing/.test(e.message));
    assert.throws(() => parseSpec('name: t\npackages: [libc6]\ncontext: /\n', 'p.yaml'), (e) => isPithError(e, 'SPEC_INVALID') && /^p\.yaml:3:10: context: expected a directory relative to the spec, such as "\.\.", found "\/"$/.test(e.message));
  });
});

describe('files: a directory copies as Docker COPY copies it', () => {
  /** src/ with a sub-directory, an executable, a private file, a hardlink, links in and out, an empty directory. */
  function tree(dir: string, variant: { umask: number; fileMode: number; exeMode: number; mtime: number; reverse: boolean }): void {
    const old = process.umask(variant.umask);
    try {
      const steps: Array<() => void> = [
        () => mkdirSync(join(dir, 'src', 'bin'), { recursive: true }),
        () => writeFileSync(join(dir, 'src', 'bin', 'run'), '#!/bin/true\n', { mode: variant.exeMode }),
        () => writeFileSync(join(dir, 'src', 'config.txt'), 'port=8080\n', { mode: variant.fileMode }),
        () => mkdirSync(join(dir, 'src', 'empty')),
      ];
      for (const step of variant.reverse ? [steps[0]!, ...steps.slice(1).reverse()] : steps) step();
      linkSync(join(dir, 'src', 'config.txt'), join(dir, 'src', 'config.hard'));
      symlinkSync('config.txt', join(dir, 'src', 'link'));
      // Kept as a link: inside the image it names the image's own /etc/shadow, never the host's.
      symlinkSync('/etc/shadow', join(dir, 'src', 'bin', 'abs'));
      chmodSync(join(dir, 'src', 'config.txt'), variant.fileMode);
      chmodSync(join(dir, 'src', 'bin', 'run'), variant.exeMode);
      for (const p of ['src/bin/run', 'src/config.txt', 'src/empty', 'src/bin', 'src']) utimesSync(join(dir, p), variant.mtime, variant.mtime);
    } finally {
      process.umask(old);
    }
  }

  const expected = (root: string, owner = '0:0') => [
    ...(root === '' ? [] : [`dir ${root} 0755 ${owner} @1700000000`]),
    `dir ${root}/bin 0755 ${owner} @1700000000`,
    `symlink ${root}/bin/abs ${owner} @1700000000 -> /etc/shadow`,
    `file ${root}/bin/run 0755 ${owner} @1700000000 "#!/bin/true\\n"`,
    `file ${root}/config.hard 0644 ${owner} @1700000000 "port=8080\\n"`,
    `file ${root}/config.txt 0644 ${owner} @1700000000 "port=8080\\n"`,
    `dir ${root}/empty 0755 ${owner} @1700000000`,
    `symlink ${root}/link ${owner} @1700000000 -> config.txt`,
  ];

  test('the tree is copied exactly: sorted, executable bits kept, owners from owner:, links kept as links', () => {
    const { dir, spec } = project('  - from: ./src\n    to: /app\n    owner: nonroot\n');
    tree(dir, { umask: 0o022, fileMode: 0o600, exeMode: 0o700, mtime: 1000, reverse: false });
    assert.deepEqual(shape(read(spec)), expected('/app', '65532:65532'));
  });

  test('the same tree under another umask, other modes of the same kind, other mtimes and creation order gives the same entries', () => {
    const a = project('  - from: src\n    to: /app\n');
    const b = project('  - from: src\n    to: /app\n');
    tree(a.dir, { umask: 0o022, fileMode: 0o644, exeMode: 0o755, mtime: 1000, reverse: false });
    tree(b.dir, { umask: 0o002, fileMode: 0o664, exeMode: 0o775, mtime: 2000000000, reverse: true });
    const first = read(a.spec);
    assert.deepEqual(shape(first), expected('/app'));
    assert.deepEqual(read(b.spec), first);
  });

  test('to: with or without a trailing slash: a directory\'s contents go under it; "/" takes them at the root', () => {
    for (const to of ['/app', '/app/']) {
      const { dir, spec } = project(`  - from: src\n    to: ${to}\n`);
      tree(dir, { umask: 0o022, fileMode: 0o644, exeMode: 0o755, mtime: 1, reverse: false });
      assert.deepEqual(shape(read(spec)), expected('/app'), to);
    }
    const { dir, spec } = project('  - from: src\n    to: /\n');
    tree(dir, { umask: 0o022, fileMode: 0o644, exeMode: 0o755, mtime: 1, reverse: false });
    assert.deepEqual(shape(read(spec)), expected(''));
  });

  test('to: ending in "/" puts a file into that directory under its own name; without it, to: is the file', () => {
    const { dir, spec } = project('  - from: bin/server\n    to: /app/\n  - from: bin/server\n    to: /app\n  - from: bin/server\n    to: /\n');
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'server'), 'x', { mode: 0o755 });
    assert.deepEqual(read(spec).map((e) => e.path), ['/app/server', '/app', '/server']);
  });

  test('mode: applies to every file; directories get the search bit wherever it grants read', () => {
    const { dir, spec } = project('  - from: src\n    to: /app\n    mode: 0640\n');
    tree(dir, { umask: 0o022, fileMode: 0o644, exeMode: 0o755, mtime: 1, reverse: false });
    const modes = read(spec).flatMap((e) => (e.type === 'symlink' || e.type === 'hardlink' ? [] : [`${e.path} ${e.mode.toString(8)}`]));
    assert.deepEqual(modes, ['/app 750', '/app/bin 750', '/app/bin/run 640', '/app/config.hard 640', '/app/config.txt 640', '/app/empty 750']);
  });

  test('a fifo is refused by path, alone or inside a copied directory, and never opened (which would block)', () => {
    const { dir, spec } = project('  - from: src\n    to: /app\n');
    mkdirSync(join(dir, 'src', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'src', 'a.txt'), 'a');
    const fifo = spawnSync('mkfifo', [join(dir, 'src', 'sub', 'pipe')]);
    assert.equal(fifo.status, 0, String(fifo.stderr));
    assert.throws(() => read(spec), (e) => isPithError(e, 'SPEC_FILE_MISSING') && new RegExp(`:4:11: files\\[0\\]\\.from: expected regular files, directories and symlinks in a copied directory, found a fifo at ${realpathSync(dir)}/src/sub/pipe$`).test(e.message));
    writeFileSync(spec, 'name: t\npackages: [libc6]\nfiles:\n  - from: src/sub/pipe\n    to: /pipe\n');
    assert.throws(() => read(spec), (e) => isPithError(e, 'SPEC_FILE_MISSING') && /:4:11: files\[0\]\.from: expected a regular file or a directory at .*\/src\/sub\/pipe, found a fifo$/.test(e.message));
  });

  test('an ELF program inside a copied directory is seen by the library closure', () => {
    const { dir, spec } = project('  - from: dist\n    to: /opt/tool\n');
    mkdirSync(join(dir, 'dist', 'bin'), { recursive: true });
    copyFileSync(realpathSync('/bin/true'), join(dir, 'dist', 'bin', 'true'));
    writeFileSync(join(dir, 'dist', 'README'), 'docs\n');
    const needs = specElfNeeds(read(spec)).map((e) => e.needs.file);
    assert.deepEqual(needs, ['/opt/tool/bin/true']);
  });
});

test('mode: written as chmod digits (755, 0755) is octal; YAML\'s own 0o755 too; a mode beyond 7777 is refused', () => {
  const mode = (m: string) => parseSpec(`name: t\npackages: [libc6]\nfiles:\n  - from: a\n    to: /a\n    mode: ${m}\n`, 'p.yaml').files![0]!.mode;
  assert.equal(mode('755'), 0o755);
  assert.equal(mode('0755'), 0o755);
  assert.equal(mode('0o755'), 0o755);
  assert.equal(mode('"0644"'), '0644');
  assert.throws(() => mode('99999'), (e) => isPithError(e, 'SPEC_INVALID') && /^p\.yaml:6:11: files\.0\.mode: /.test(e.message));
});

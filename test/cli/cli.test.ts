import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { buildImage, loadSpec, writeImage, type FsEntry } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { program } from '../../src/cli/main.ts';
import { SPEC_FILES_LAYER } from '../../src/assemble/layer-names.ts';

const bin = new URL('../../bin/pith.js', import.meta.url).pathname;
const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' });
const scratch = mkdtempSync(join(tmpdir(), 'pith-cli-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** `timeout` (ms) kills a pith that hangs: the test then fails on its exit code (-1) instead of hanging too. */
function pith(args: string[], env: NodeJS.ProcessEnv = {}, timeout?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, XDG_CACHE_HOME: join(scratch, 'xdg'), ...env }, timeout });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

it('--help documents the commands and the exit statuses', async () => {
  const { code, stdout } = await pith(['--help']);
  assert.equal(code, 0);
  for (const word of ['resolve', 'lock', 'Exit status:', '3  pith lock --check found drift']) assert.ok(stdout.includes(word), word);
});

it('an unknown command or option is a usage error (exit 2)', async () => {
  assert.equal((await pith(['frobnicate'])).code, 2);
  const r = await pith(['resolve', '--frob', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option '--frob'/);
});

it('a bad number is a usage error (exit 2) naming the option, what it expects and what it found, before any work', async () => {
  const dir = mkdtempSync(join(scratch, 'numbers-'));
  for (const [args, option, expected] of [
    [['update', '--parallel', 'abc', dir], '--parallel', 'a whole number from 1 up'],
    [['update', '--parallel', '0', dir], '--parallel', 'a whole number from 1 up'],
    [['push', '--jobs', 'abc', `oci:${dir}/none`, '127.0.0.1:9/x:1'], '--jobs', 'a whole number from 1 up'],
    [['pull', '--jobs', '2.5', '127.0.0.1:9/x:1', '--output', `oci:${dir}/none`], '--jobs', 'a whole number from 1 up'],
    [['copy', '--jobs', '-1', `oci:${dir}/none`, `oci:${dir}/other`], '--jobs', 'a whole number from 1 up'],
    [['run', '--pids-limit', 'many', `oci:${dir}/none`], '--pids-limit', 'a whole number from 1 up'],
    [['stop', '--time', 'soon', 'nothing'], '--time', 'a whole number of seconds'],
    // runc would take 10 bytes and fail later, raw: "unable to set memory limit to 10".
    [['run', '--memory', '10', `oci:${dir}/none`], '--memory', 'a size of at least 6m'],
    [['run', '--memory', '64q', `oci:${dir}/none`], '--memory', 'a size such as 64m, 1g or 1048576'],
  ] as const) {
    const r = await pith([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.startsWith("error: option '") && r.stderr.includes(`expected ${expected}`) && r.stderr.includes(`for ${option}, found "${args[(args as readonly string[]).indexOf(option) + 1]}"`), r.stderr);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  }
  // The runtime's own checks, run while the command line is read (before root, the image or runc are needed).
  for (const [option, value, expected] of [['--name', 'a/b', /expected a container name/], ['--cap-add', 'NOPE', /expected a capability name/]] as const) {
    const r = await pith(['run', option, value, `oci:${dir}/none`]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.startsWith(`error: option '${option} `) && expected.test(r.stderr), r.stderr);
  }
  const sbom = await pith(['build', join(dir, 'pith.yaml'), '--sbom', 'swid']);
  assert.equal(sbom.code, 2);
  assert.match(sbom.stderr, /--sbom.*expected SBOM formats from spdx, cyclonedx in --sbom, found "swid"/);
  const epoch = await pith(['build', join(dir, 'pith.yaml')], { SOURCE_DATE_EPOCH: 'yesterday' });
  assert.equal(epoch.code, 2, 'the environment is part of the invocation');
  assert.match(epoch.stderr, /^pith: USAGE: expected a whole number of seconds since 1970 for SOURCE_DATE_EPOCH, found "yesterday"/);
});

it('a malformed --source is an error naming the flag, without a stack trace', async () => {
  const r = await pith(['resolve', '--source', 'deb http://127.0.0.1:9/debian', 'libc6']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^pith: SOURCES_MALFORMED: .*--source #1/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

it('init writes a starter spec that parses, and never overwrites it', async () => {
  const dir = join(mkdtempSync(join(scratch, 'init-')), 'My App');
  const r = await pith(['init', dir]);
  assert.equal(r.code, 0, r.stderr);
  const { spec } = loadSpec(join(dir, 'pith.yaml'));
  assert.equal(spec.name, 'my-app');
  assert.deepEqual(spec.packages, ['ca-certificates', 'tzdata']);
  const again = await pith(['init', dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /never overwrites/);
});

/**
 * A small image as an OCI layout, made with the library: what the output tests copy with the CLI. Its files are in
 * the layer a spec's `files:` make, which an SBOM lists file by file.
 */
async function sampleLayout(dir: string, files = 1): Promise<string> {
  const content = new TextEncoder().encode('x');
  const entries: FsEntry[] = [
    { type: 'dir', path: '/data', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
    ...Array.from({ length: files }, (_, i): FsEntry => ({ type: 'file', path: `/data/a-file-with-a-fairly-long-name-${String(i).padStart(5, '0')}`, mode: 0o644, uid: 0, gid: 0, mtime: 0, content })),
  ];
  const image = await buildImage({ layers: [{ entries, comment: SPEC_FILES_LAYER }], config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: 1 });
  const layout = join(dir, 'source');
  await writeImage(`oci:${layout}:v1`, image);
  return `oci:${layout}:v1`;
}

/** `chattr +i` on `dir` for the length of `run`; false when this file system or user cannot make it immutable. */
async function whileImmutable(dir: string, run: () => Promise<void>): Promise<boolean> {
  if (spawnSync('chattr', ['+i', dir]).status !== 0) return false;
  try {
    await run();
  } finally {
    spawnSync('chattr', ['-i', dir]);
  }
  return true;
}

/** A user error: exit 1, `pith: CODE:` on stderr, no stack trace. */
function assertUserError(r: { code: number; stderr: string }, code: string, ...words: string[]): void {
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.startsWith(`pith: ${code}: `), r.stderr);
  for (const w of words) assert.ok(r.stderr.includes(w), `${w} in ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
}

describe('outputs that cannot be written', () => {
  let source: string;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(scratch, 'outputs-'));
    source = await sampleLayout(dir);
  });

  it('under /proc fail within seconds, naming the output and what the system said', { timeout: 60_000 }, async () => {
    // /proc answers EEXIST for itself and ENOENT for anything new in it: a recursive mkdir there never returned.
    const proc = `/proc/pith-test-${process.pid}`;
    assertUserError(await pith(['copy', source, `oci:${proc}`], {}, 20_000), 'OUTPUT_UNWRITABLE', `"${proc}"`, 'ENOENT');
    assertUserError(await pith(['copy', source, `oci-archive:${proc}.tar`], {}, 20_000), 'OUTPUT_UNWRITABLE', `"${proc}.tar"`, 'ENOENT');
    assertUserError(await pith(['copy', source, `docker-archive:${proc}.tar`], {}, 20_000), 'OUTPUT_UNWRITABLE', `"${proc}.tar"`, 'ENOENT');
    assertUserError(await pith(['init', join(proc, 'app')], {}, 20_000), 'OUTPUT_UNWRITABLE', `"${join(proc, 'app', 'pith.yaml')}"`, 'ENOENT');
  });

  it('refused by the system (EPERM, EACCES) or under a file (ENOTDIR) are user errors, and nothing is left behind', { timeout: 60_000 }, async () => {
    assertUserError(await pith(['copy', source, 'oci:/sys/pith-test']), 'OUTPUT_UNWRITABLE', '"/sys/pith-test"', 'EPERM');
    assertUserError(await pith(['copy', source, 'oci-archive:/sys/pith-test.tar']), 'OUTPUT_UNWRITABLE', '"/sys/pith-test.tar"', 'EACCES');
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    assertUserError(await pith(['copy', source, `oci:${join(file, 'out')}`]), 'OUTPUT_UNWRITABLE', `"${join(file, 'out')}"`, 'ENOTDIR');
    assertUserError(await pith(['copy', source, `oci-archive:${join(file, 'deeper', 'out.tar')}`]), 'OCI_NO_PARENT_DIR', 'a path through a file');
    assert.deepEqual(readdirSync(dir).sort(), ['a-file', 'source']);
  });

  it('in an immutable directory are user errors; an existing layout there is left as it was', { timeout: 60_000 }, async (t) => {
    const locked = mkdtempSync(join(scratch, 'immutable-'));
    const layout = join(locked, 'layout');
    assert.equal((await pith(['copy', source, `oci:${layout}:one`])).code, 0);
    const before = readFileSync(join(layout, 'index.json'));
    const blobs = readdirSync(join(layout, 'blobs', 'sha256')).sort();
    const other = await sampleLayout(mkdtempSync(join(scratch, 'other-')), 2);
    const ran = await whileImmutable(locked, async () => {
      assertUserError(await pith(['copy', source, `oci:${join(locked, 'new')}`]), 'OUTPUT_UNWRITABLE', `"${join(locked, 'new')}"`, 'EPERM');
      assertUserError(await pith(['copy', source, `oci-archive:${join(locked, 'new.tar')}`]), 'OUTPUT_UNWRITABLE', 'EPERM');
      await whileImmutable(layout, async () => {
        assertUserError(await pith(['copy', other, `oci:${layout}:two`]), 'OUTPUT_UNWRITABLE', layout, 'EPERM');
      });
    });
    if (!ran) return t.skip('chattr +i is not possible here (needs root and a file system with attributes)');
    assert.deepEqual(readdirSync(locked), ['layout']);
    assert.ok(readFileSync(join(layout, 'index.json')).equals(before), 'index.json unchanged');
    assert.deepEqual(readdirSync(layout).sort(), ['blobs', 'index.json', 'oci-layout']);
    assert.deepEqual(readdirSync(join(layout, 'blobs', 'sha256')).sort(), blobs, 'the blobs the failed write added are gone');
  });
});

describe('a closed pipe', () => {
  /** pith with its stdout read until `enough` bytes have come, then closed, as `| head -c N` does. */
  const readThenClose = (args: string[], enough: number) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      let stdout = '';
      let stderr = '';
      const close = () => child.stdout.destroy();
      if (enough === 0) close();
      child.stdout.on('data', (d) => {
        stdout += d;
        if (stdout.length >= enough) close();
      });
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });

  it('ends a command quietly with status 0 (inspect --files | head -1, update --help | head -1)', async () => {
    const source = await sampleLayout(mkdtempSync(join(scratch, 'pipe-')), 4000);
    // Far more than a pipe holds (64 KiB): pith is still writing when the reader goes away.
    const files = await readThenClose(['inspect', source, '--files'], 1);
    assert.deepEqual({ code: files.code, stderr: files.stderr }, { code: 0, stderr: '' });
    assert.ok(files.stdout.length < 300_000, 'stopped before the end');
    const help = await readThenClose(['update', '--help'], 0);
    assert.deepEqual({ code: help.code, stderr: help.stderr }, { code: 0, stderr: '' });
    const sbom = await readThenClose(['sbom', source], 100);
    assert.deepEqual({ code: sbom.code, stderr: sbom.stderr }, { code: 0, stderr: '' });
    // The document lists each of the 4000 files (over 2 MB): what arrived is a pipe's worth, not the whole.
    assert.ok(sbom.stdout.length < 300_000, 'stopped before the end');
  });

  it('ends every command\'s --help quietly (pith CMD --help | head -1), and the top-level help', async () => {
    const names = (await program()).commands.map((c) => c.name());
    assert.ok(names.length >= 20 && names.includes('rollout') && names.includes('logs'), names.join(' '));
    for (const args of [['--help'], ...names.map((n) => [n, '--help'])]) {
      const r = await readThenClose(args, 0);
      assert.deepEqual({ code: r.code, stderr: r.stderr }, { code: 0, stderr: '' }, args.join(' '));
    }
  });
});

describe('against a fixture archive', { skip }, () => {
  let server: FixtureArchive;
  let sources: string[];
  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
    sources = ['fixture', 'fixture-security'].flatMap((suite) => ['--source', `deb [signed-by=${server.keyring}] ${server.url} ${suite} main`]);
  });
  after(() => server?.close());

  it('resolve --json prints each package with the reason it is there', async () => {
    const r = await pith(['resolve', ...sources, '--arch', 'amd64', '--json', 'app']);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Array<{ name: string; version: string; reason: string[]; sha256: string; filename: string; sourceVersion: string }>;
    const libfoo = rows.find((p) => p.name === 'libfoo1')!;
    assert.equal(libfoo.version, '1.0-1+deb12u1');
    assert.deepEqual(libfoo.reason, ['app', 'libfoo1']);
    assert.deepEqual(rows.find((p) => p.name === 'app')!.reason, ['app']);
    assert.ok(rows.every((p) => /^[0-9a-f]{64}$/.test(p.sha256) && p.filename.startsWith('pool/')));
    assert.equal(r.stderr, '', 'no progress bars when stderr is not a TTY');
  });

  it('resolve prints a table by default; --exclude warns who depended on it', async () => {
    const r = await pith(['resolve', ...sources, '--arch', 'amd64', '--exclude', 'mawk', 'app']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^PACKAGE\s+VERSION\s+ARCH\s+SOURCE\s+WHY\n/);
    assert.match(r.stdout, /libfoo1\s+1\.0-1\+deb12u1\s+amd64\s+foo\s+app → libfoo1/);
    assert.doesNotMatch(r.stdout, /^mawk/m);
    assert.match(r.stderr, /warning: excluded mawk, which app depend\(s\) on/);
  });

  it('an unknown package exits 1 and suggests close names', async () => {
    const r = await pith(['resolve', ...sources, '--arch', 'amd64', 'libfoo']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^pith: UNKNOWN_PACKAGE: .*libfoo.*libfoo1/s);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('build prints the image digest last; --json summarises layers and what was left out', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server));
    const archive = join(dir, 'app.tar');
    const built = await pith(['build', '--output', `oci-archive:${archive}:v1`, '--output', `docker-archive:${join(dir, 'docker.tar')}:app:v1`, spec]);
    assert.equal(built.code, 0, built.stderr);
    const lines = built.stdout.trim().split('\n');
    assert.match(lines.at(-1)!, /^sha256:[0-9a-f]{64}$/);
    assert.ok(lines.includes(`wrote oci-archive:${archive}:v1`), built.stdout);
    const json = await pith(['build', '--json', '--output', `oci:${join(dir, 'layout')}`, spec]);
    assert.equal(json.code, 0, json.stderr);
    const summary = JSON.parse(json.stdout);
    assert.equal(summary.digest, lines.at(-1));
    assert.deepEqual(summary.architectures[0].excluded.map((e: { name: string }) => e.name), ['init-system-helpers']);
    const layers: Array<{ digest: string; size: number; uncompressedSize: number }> = summary.architectures[0].layers;
    for (const l of layers) {
      const blob = readFileSync(join(dir, 'layout', 'blobs', 'sha256', l.digest.slice('sha256:'.length)));
      assert.equal(blob.length, l.size, `${l.digest}: compressed size`);
      assert.equal(gunzipSync(blob).length, l.uncompressedSize, `${l.digest}: uncompressed size`);
    }
    assert.deepEqual(summary.architectures[0].size, {
      compressed: layers.reduce((n, l) => n + l.size, 0),
      uncompressed: layers.reduce((n, l) => n + l.uncompressedSize, 0),
    });
    const missing = await pith(['build', '--lock', join(dir, 'nope.lock'), spec]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^pith: LOCK_NOT_FOUND: .*nope\.lock: cannot read the lock/);
  });

  it('build draws progress bars for the .deb downloads on a terminal only; --json is unaffected', { skip: missingTools({ script: 'bsdutils' }) }, async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server));
    assert.equal((await pith(['lock', spec])).code, 0);
    /** pith on a pseudo-terminal (script(1)): what the terminal showed, stdout and stderr together. */
    const onTerminal = (args: string[], onOutput: (transcript: string) => void = () => {}) =>
      new Promise<{ code: number; transcript: string }>((resolve) => {
        const command = [process.execPath, bin, ...args].map((a) => `'${a}'`).join(' ');
        const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let transcript = '';
        child.stdout.on('data', (d) => onOutput((transcript += d)));
        child.on('close', (code) => resolve({ code: code ?? -1, transcript }));
      });
    const plain = (t: string) => t.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

    // app's .deb stalls half-way until its bar has been drawn: a download slow enough to see, without a timer.
    server.fault({ kind: 'stall', match: /\/app_.*\.deb$/ });
    let drawn = false;
    const tty = await onTerminal(['build', '--cache', join(dir, 'cache-tty'), '--output', `oci:${join(dir, 'tty')}`, spec], (t) => {
      if (!drawn && /\u2591+ \d+% \| app 2\.0-1/.test(plain(t))) {
        drawn = true;
        server.fault(null);
      }
    });
    server.fault(null);
    assert.equal(tty.code, 0, tty.transcript);
    assert.ok(drawn, `a bar for app 2.0-1 in: ${JSON.stringify(tty.transcript)}`);
    assert.match(plain(tty.transcript).trim().split('\n').at(-1)!, /^sha256:[0-9a-f]{64}$/);

    const quiet = await pith(['build', '--cache', join(dir, 'cache-pipe'), '--output', `oci:${join(dir, 'pipe')}`, spec]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '', 'no progress bars when stderr is not a terminal');
    const json = await onTerminal(['build', '--json', '--cache', join(dir, 'cache-json'), '--output', `oci:${join(dir, 'json')}`, spec]);
    assert.equal(json.code, 0, json.transcript);
    assert.equal(JSON.parse(json.transcript.replace(/\r/g, '')).digest, plain(tty.transcript).trim().split('\n').at(-1), 'only the JSON, even on a terminal');
  });

  it('lock and build take a directory for the spec in it; a lock or output that cannot be written is a user error', { timeout: 180_000 }, async (t) => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    writeFileSync(join(dir, 'pith.yaml'), fixtureSpec(server));
    const locked = await pith(['lock', dir]);
    assert.equal(locked.code, 0, locked.stderr);
    assert.ok(existsSync(join(dir, 'pith.lock')));
    const built = await pith(['build', dir]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout.trim().split('\n').at(-1)!, /^sha256:[0-9a-f]{64}$/);
    assert.ok(existsSync(join(dir, 'out', 'index.json')), 'the default output beside the spec');

    // As a user met it: this ran forever at 90% CPU, printing nothing.
    const proc = `/proc/pith-test-${process.pid}`;
    assertUserError(await pith(['build', dir, '--output', `oci:${proc}`], {}, 60_000), 'OUTPUT_UNWRITABLE', `"${proc}"`, 'ENOENT');

    rmSync(join(dir, 'pith.lock'));
    const ran = await whileImmutable(dir, async () => {
      assertUserError(await pith(['lock', dir]), 'OUTPUT_UNWRITABLE', `"${join(dir, 'pith.lock')}"`, 'EPERM');
    });
    if (!ran) return t.skip('chattr +i is not possible here (needs root and a file system with attributes)');
    assert.deepEqual(readdirSync(dir).sort(), ['out', 'pith.yaml'], 'no lock, no temp file');
  });

  it('lock writes pith.lock; lock --check exits 0 when clean and 3 on drift', async () => {
    const dir = mkdtempSync(join(scratch, 'spec-'));
    const spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server));
    const locked = await pith(['lock', spec]);
    assert.equal(locked.code, 0, locked.stderr);
    assert.match(locked.stdout, /amd64: 8 packages \(.*\), excluded init-system-helpers/);
    assert.equal(locked.stderr, '', 'default drops are reported in the lock, not warned about');
    assert.equal(JSON.parse(readFileSync(join(dir, 'pith.lock'), 'utf8')).architectures.amd64.packages.length, 8);
    const check = await pith(['lock', '--check', '--json', spec]);
    assert.equal(check.code, 0, check.stderr);
    assert.equal(JSON.parse(check.stdout).clean, true);
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('packages: [app]', 'packages: [app, gawk]'));
    const drift = await pith(['lock', '--check', spec]);
    assert.equal(drift.code, 3);
    assert.match(drift.stdout, /spec changed: packages added: gawk/);
  });
});

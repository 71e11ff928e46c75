// The package as a user meets it: `npm pack`, a global install of the tarball into a fresh prefix, the CLI run from
// another directory on a real spec, the library imported from plain Node and type-checked by stock TypeScript.
// npm takes pith's dependencies from its cache when it can (--prefer-offline), else from the registry; when the
// registry cannot be reached the test skips, except under PITH_REQUIRE_INTEGRATION=1.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { missingTools, skipUnlessRequired } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { assertRan, exec } from '../fixtures/exec.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'pith-package-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version as string;

const NETWORK = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT)\b/;

function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  // A user's shell has no tsx loader and no NODE_OPTIONS of this test runner.
  const { NODE_OPTIONS: _, ...env } = process.env;
  return spawnSync(cmd, args, { encoding: 'utf8', cwd: options.cwd, env: { ...env, ...options.env }, maxBuffer: 64 << 20 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** The working tree as a clone has it (no node_modules, no dist/), sharing this checkout's node_modules. */
function copyRepo(): string {
  const root = join(scratch, 'repo');
  const skipped = new Set(['node_modules', 'dist', '.git']);
  cpSync(repo, root, { recursive: true, filter: (src) => !skipped.has(relative(repo, src).split('/')[0]!) });
  symlinkSync(realpathSync(join(repo, 'node_modules')), join(root, 'node_modules'));
  return root;
}

describe('the npm package', () => {
  let tarball = '';
  let packed: string[] = [];
  let prefix = '';
  let installed = '';
  let unreachable: string | undefined;
  let installSeconds = 0;

  before(() => {
    const root = copyRepo();
    const pack = run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: root });
    const out = ok(pack, 'npm pack');
    // prepack's build may print before npm's JSON report.
    const report = JSON.parse(out.slice(out.indexOf('[\n'))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(scratch, report[0]!.filename);
    packed = report[0]!.files.map((f) => f.path);

    prefix = join(scratch, 'prefix');
    const start = performance.now();
    const install = run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: scratch });
    installSeconds = (performance.now() - start) / 1000;
    if (install.status !== 0 && NETWORK.test(install.stderr)) {
      const cause = install.stderr.split('\n').find((l) => NETWORK.test(l))?.replace(/^npm error\s*/, '').trim();
      unreachable = skipUnlessRequired(`needs the npm registry (for pith's dependencies not in npm's cache), which could not be reached: ${cause}`);
      return;
    }
    const log = ok(install, 'npm install -g') + install.stderr;
    installed = join(prefix, 'lib', 'node_modules', 'pith');
    assert.doesNotMatch(log, /install-scripts|allowScripts/i, 'a clean install prints no install-script warnings');
    console.log(`# packed ${packed.length} files; npm install -g took ${installSeconds.toFixed(1)} s`);
  });

  it('ships only what a user runs: the launcher, dist/ with declarations, LICENSE, README', () => {
    for (const f of ['bin/pith.js', 'dist/pith.js', 'dist/index.js', 'dist/types/index.d.ts', 'LICENSE', 'README.md', 'package.json']) {
      assert.ok(packed.includes(f), `${f} is packed`);
    }
    const stray = packed.filter((f) => !/^(bin\/pith\.js|dist\/.*\.(js|d\.ts)|LICENSE|README\.md|package\.json)$/.test(f));
    assert.deepEqual(stray, [], 'nothing but the launcher, dist/ and the package metadata');
    assert.ok(!packed.some((f) => /^(src|test|bench|examples|scripts|\.ci)\//.test(f)), 'no sources, tests, benches, fixtures or CI files');
  });

  it('installs no tsx, esbuild, TypeScript or native addon', (t) => {
    if (unreachable) return t.skip(unreachable);
    const deps = readdirSync(join(installed, 'node_modules'));
    for (const dev of ['tsx', 'esbuild', 'typescript', 'zstd-napi', 'node-gyp']) assert.ok(!deps.includes(dev), `${dev} is not installed`);
    assert.ok(!existsSync(join(installed, 'src')), 'the sources are not shipped');
  });

  it('gives a working `pith` from any directory', (t) => {
    if (unreachable) return t.skip(unreachable);
    const elsewhere = join(scratch, 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    const pith = join(prefix, 'bin', 'pith');
    assert.equal(ok(run(pith, ['--version'], { cwd: elsewhere }), 'pith --version').trim(), version);
    assert.match(ok(run(pith, ['--help'], { cwd: elsewhere }), 'pith --help'), /Usage: pith/);
  });

  describe('on a real spec', () => {
    const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' });
    let server: FixtureArchive | undefined;
    before(async () => {
      if (!skip && !unreachable) server = await startFixtureArchive(join(scratch, 'archive'));
    });
    after(() => server?.close());

    it('builds an image with the installed CLI', { skip }, async (t) => {
      if (unreachable) return t.skip(unreachable);
      const dir = join(scratch, 'spec');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'pith.yaml'), fixtureSpec(server!));
      // Asynchronously: the fixture archive is served from this process.
      const { NODE_OPTIONS: _, ...env } = process.env;
      const built = await exec(join(prefix, 'bin', 'pith'), ['build', 'pith.yaml', '--output', 'oci:out'], { cwd: dir, env: { ...env, XDG_CACHE_HOME: join(scratch, 'cache') } });
      assert.match(assertRan(built), /sha256:[0-9a-f]{64}/);
      assert.ok(existsSync(join(dir, 'out', 'index.json')), 'an OCI layout is written');
    });
  });

  describe('as a library', () => {
    let project = '';
    before(() => {
      if (unreachable) return;
      // A project that depends on pith as installed from the tarball, and on this checkout's TypeScript and Node types.
      project = join(scratch, 'consumer');
      mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
      symlinkSync(installed, join(project, 'node_modules', 'pith'));
      symlinkSync(realpathSync(join(repo, 'node_modules', '@types', 'node')), join(project, 'node_modules', '@types', 'node'));
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    });

    it('imports from plain Node 20', (t) => {
      if (unreachable) return t.skip(unreachable);
      const code = "const m = await import('pith'); console.log(typeof m.build, m.compareVersions('1.0-1', '1.0~rc1-1') > 0);";
      assert.equal(ok(run(process.execPath, ['--input-type=module', '-e', code], { cwd: project }), 'node -e import(pith)').trim(), 'function true');
    });

    it('type-checks with stock TypeScript (moduleResolution nodenext)', (t) => {
      if (unreachable) return t.skip(unreachable);
      writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
        // skipLibCheck as `tsc --init` sets it: openpgp's own declarations name a package it does not install.
        compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
        files: ['use.ts'],
      }));
      writeFileSync(join(project, 'use.ts'), [
        "import { build, compareVersions, type BuildOptions, type BuildResult } from 'pith';",
        'const order: number = compareVersions("1.0-1", "1.0-2");',
        'export async function image(spec: string, options: BuildOptions = {}): Promise<string> {',
        '  const result: BuildResult = await build(spec, options);',
        '  return result.digest;',
        '}',
        '// @ts-expect-error: versions are strings',
        'compareVersions(1, 2);',
        'console.log(order);',
        '',
      ].join('\n'));
      const tsc = join(realpathSync(join(repo, 'node_modules', 'typescript')), 'bin', 'tsc');
      ok(run(process.execPath, [tsc, '-p', project], { cwd: project }), 'tsc');
    });
  });
});

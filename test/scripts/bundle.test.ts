import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { codeFingerprint, digestOfSources } from '../../src/cache/source-digest.ts';
import { bundle } from '../../scripts/bundle.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'pith-bundle-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A copy of the repository to bundle and edit, sharing this one's node_modules. */
function copyRepo(): string {
  const root = join(scratch, 'repo');
  for (const part of ['bin', 'src', 'scripts', 'package.json', 'package-lock.json']) cpSync(join(repo, part), join(root, part), { recursive: true });
  symlinkSync(realpathSync(join(repo, 'node_modules')), join(root, 'node_modules'));
  return root;
}

// A lone `--version` is answered by the launcher from package.json; `-V -V` reaches the CLI that runs, which is what
// these tests observe.
const version = (root: string, args = ['-V', '-V']) => {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'pith.js'), ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};

describe('the launcher as an installed command', () => {
  it('starts Node with the memory settings its #! line names (young generation, malloc), as a large build needs', () => {
    const probe = join(scratch, 'settings.mjs');
    writeFileSync(probe, "process.stderr.write(JSON.stringify({ execArgv: process.execArgv, arenas: process.env.MALLOC_ARENA_MAX, mmap: process.env.MALLOC_MMAP_THRESHOLD_ }) + '\\n');\n");
    // Run as npm's bin link runs it: the file itself, through its #! line (not `node bin/pith.js`).
    const r = spawnSync(join(repo, 'bin', 'pith.js'), ['--version'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--import ${probe}` } });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stderr.trim().split('\n').at(-1)!), { execArgv: ['--max-semi-space-size=4', '--heap-growing-percent=50', '--initial-old-space-size=64'], arenas: '2', mmap: '131072' });
  });
});

describe('the CLI bundle and the launcher', () => {
  let root: string;
  before(async () => {
    root = copyRepo();
    await bundle(root);
  });

  it('embeds the digest of the sources it was made from, which keys the build cache as running from src/ does', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'dist', 'bundle.json'), 'utf8'));
    assert.equal(manifest.fingerprint, codeFingerprint(root));
    // The build's code, which reads it, is a chunk loaded with `pith build`, not part of the entry.
    const code = ['pith.js', ...readdirSync(join(root, 'dist', 'chunks')).map((c) => join('chunks', c))].map((f) => readFileSync(join(root, 'dist', f), 'utf8'));
    assert.ok(code.some((text) => text.includes(JSON.stringify(digestOfSources(join(root, 'src'))))));
  });

  it('runs the bundle while it matches the sources, and the sources as soon as one changes', () => {
    const built = join(root, 'dist', 'pith.js');
    writeFileSync(built, readFileSync(built, 'utf8').replace('.version(PITH_VERSION)', '.version("0.1.0+bundle")'));
    assert.equal(version(root), '0.1.0+bundle', 'an up-to-date bundle is what runs');
    assert.equal(version(root, ['--version']), JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version, 'a lone --version loads neither');

    const main = join(root, 'src', 'cli', 'main.ts');
    const original = readFileSync(main, 'utf8');
    writeFileSync(main, original.replace('.version(PITH_VERSION)', ".version('0.1.0+edited')"));
    assert.equal(version(root), '0.1.0+edited', 'an edited source file is never shadowed by the stale bundle');
    writeFileSync(main, original);
    assert.equal(version(root), '0.1.0+bundle');
  });

  it('a change of dependencies (package-lock.json) makes the bundle stale too; without dist/ the sources run', () => {
    const lockfile = join(root, 'package-lock.json');
    const original = readFileSync(lockfile);
    appendFileSync(lockfile, '\n');
    assert.equal(version(root), '0.1.0');
    writeFileSync(lockfile, original);
    assert.equal(version(root), '0.1.0+bundle');
    rmSync(join(root, 'dist'), { recursive: true });
    assert.equal(version(root), '0.1.0');
  });
});

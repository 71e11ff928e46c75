// Against the machine's real apt sources: the README's quick start, end to end. Skipped (with a message) when the
// archive is unreachable, unless PITH_REQUIRE_INTEGRATION=1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readLock } from 'pith';
import { liveArchiveProblem } from '../fixtures/live.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-live-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const problem = await liveArchiveProblem();

test('quick start: pith lock and pith build examples/base/pith.yaml against the machine\'s apt sources', { skip: problem }, () => {
  const spec = join(scratch, 'pith.yaml');
  copyFileSync(new URL('../../examples/base/pith.yaml', import.meta.url), spec);
  const bin = new URL('../../bin/pith.js', import.meta.url).pathname;
  const env = { ...process.env, XDG_CACHE_HOME: join(scratch, 'cache') };
  const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8' });
  const first = run(['lock', spec]);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /packages .*excluded debconf/);
  const lock = readLock(join(scratch, 'pith.lock'));
  const names = lock.architectures[Object.keys(lock.architectures)[0]!]!.packages.map((p) => p.name);
  for (const n of ['libc6', 'ca-certificates', 'tzdata', 'netbase', 'base-files']) assert.ok(names.includes(n), n);
  assert.ok(!names.includes('debconf'), 'excluded');
  assert.ok(!names.includes('bash') && !names.includes('coreutils') && !names.includes('dpkg'), 'no implicit Essential userland');
  assert.ok(lock.sources.every((s) => /^sha256:[0-9a-f]{64}$/.test(s.inRelease) && s.signer.length === 40));

  // The main job: build the image from that lock; the last line of output is its digest.
  const built = run(['build', spec]);
  assert.equal(built.status, 0, built.stderr);
  const digest = built.stdout.trim().split('\n').at(-1)!;
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  const again = run(['build', '--offline', spec]);
  assert.equal(again.stdout.trim().split('\n').at(-1), digest, 'rebuilding from the cache gives the same digest');
  const layout = JSON.parse(readFileSync(join(scratch, 'out', 'index.json'), 'utf8'));
  assert.equal(layout.manifests[0].digest, digest);

  // The same lock again, from the cache alone; --check writes nothing.
  const locked = readFileSync(join(scratch, 'pith.lock'));
  const offline = run(['lock', '--offline', '--check', spec]);
  assert.equal(offline.status, 0, offline.stdout + offline.stderr);
  assert.match(offline.stdout, /up to date/);
  assert.deepEqual(readFileSync(join(scratch, 'pith.lock')), locked);
});

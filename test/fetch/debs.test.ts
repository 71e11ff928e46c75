import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchAndReadDebs, fetchDebs } from '../../src/fetch/debs.ts';
import { isPithError, lock, type LockFile } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' });
const scratch = mkdtempSync(join(tmpdir(), 'pith-fetch-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('fetchDebs', { skip }, () => {
  let server: FixtureArchive;
  let lockFile: LockFile;
  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
    const spec = join(scratch, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server));
    lockFile = (await lock(spec, { cacheDir: join(scratch, 'index-cache') })).lock;
  });
  after(() => server?.close());

  it('downloads every locked .deb from the suite that served it, verified, then serves them from the cache', async () => {
    const cacheDir = mkdtempSync(join(scratch, 'cache-'));
    const pkgs = lockFile.architectures.amd64!.packages;
    server.requests.length = 0;
    const debs = await fetchDebs(lockFile, pkgs, { cacheDir });
    assert.equal(debs.length, pkgs.length);
    for (const { pkg, bytes } of debs) assert.equal(createHash('sha256').update(bytes).digest('hex'), pkg.sha256);
    const libfoo = pkgs.find((p) => p.name === 'libfoo1')!;
    assert.ok(server.requests.includes(`/${libfoo.filename}`));
    server.requests.length = 0;
    await fetchDebs(lockFile, pkgs, { cacheDir, offline: true });
    assert.deepEqual(server.requests, [], 'a warm fetch downloads nothing');
  });

  it('refuses a .deb whose bytes differ from the lock, and caches nothing', async () => {
    const cacheDir = mkdtempSync(join(scratch, 'cache-'));
    server.fault({ kind: 'tamper', match: /\.deb$/ });
    try {
      await assert.rejects(fetchDebs(lockFile, lockFile.architectures.amd64!.packages, { cacheDir, concurrency: 1 }), (e) =>
        isPithError(e, 'DEB_HASH_MISMATCH') && /expected SHA256 [0-9a-f]{64} as pinned in the lock, found [0-9a-f]{64}/.test(e.message));
    } finally {
      server.fault(null);
    }
    const blobs = join(cacheDir, 'blobs', 'sha256');
    assert.deepEqual(existsSync(blobs) ? readdirSync(blobs) : [], []);
  });

  it('fetchAndReadDebs reads each .deb as it arrives (streamed from the cache), giving them back in the lock\'s order', async () => {
    const cacheDir = mkdtempSync(join(scratch, 'cache-'));
    const pkgs = lockFile.architectures.amd64!.packages;
    for (const warm of [false, true]) {
      const seen: Array<[number, string, number]> = [];
      const debs = await fetchAndReadDebs(lockFile, pkgs, { cacheDir, onRead: ({ pkg, deb }, i) => seen.push([i, pkg.name, deb.entries.length]) });
      assert.deepEqual(debs.map((d) => d.pkg.name), pkgs.map((p) => p.name), warm ? 'from the cache' : 'downloaded');
      // onRead sees every package once, in the lock's order, with its files, whatever order the reads finished in.
      assert.deepEqual(seen.map(([i, name]) => [i, name]), pkgs.map((p, i) => [i, p.name]));
      assert.ok(seen.every(([, , entries]) => entries > 0));
      for (const { pkg, deb } of debs) assert.equal(deb.control['package'], pkg.name);
    }
    server.fault({ kind: 'tamper', match: /\.deb$/ });
    try {
      await assert.rejects(fetchAndReadDebs(lockFile, pkgs, { cacheDir: mkdtempSync(join(scratch, 'cache-')) }), (e) => isPithError(e, 'DEB_HASH_MISMATCH'));
    } finally {
      server.fault(null);
    }
  });

  it('--offline names every package the cache lacks', async () => {
    await assert.rejects(fetchDebs(lockFile, lockFile.architectures.amd64!.packages, { cacheDir: mkdtempSync(join(scratch, 'cache-')), offline: true }), (e) =>
      isPithError(e, 'OFFLINE_MISSING') && e.message.includes('libfoo1 1.0-1+deb12u1') && e.message.includes(server.url));
  });
});

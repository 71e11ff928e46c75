import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isPithError, openArchive, type ArchiveEvent, type OpenArchiveOptions, type SourceEntry } from 'pith';
import { ContentStore } from '../../src/cache/store.ts';
import { PACKAGE_ROWS_FORMAT } from '../../src/debian/packages.ts';
import { missingTools } from '../fixtures/apt.ts';
import { generateFixtureKey, sampleSuites, startFixtureArchive, writeKeyring, type FixtureArchive, type FixtureKey, type FixtureSuite } from '../fixtures/archive.ts';

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' });
const scratch = mkdtempSync(join(tmpdir(), 'pith-archive-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let server: FixtureArchive;
let key: FixtureKey;
let keyring: string;
const root = join(scratch, 'archive');

function sources(): SourceEntry[] {
  return [{ uri: server.url, suites: ['fixture', 'fixture-security'], components: ['main'], signedBy: keyring }];
}
const newCache = () => mkdtempSync(join(scratch, 'cache-'));
const open = (cacheDir: string, extra: Partial<OpenArchiveOptions> = {}) =>
  openArchive({ sources: sources(), architectures: ['amd64'], cacheDir, fetch: { backoffMs: 5 }, ...extra });
const blobs = (cacheDir: string) => {
  const dir = join(cacheDir, 'blobs', 'sha256');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
};
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The `fixture` suite alone of another fixture archive. */
const openOne = (alt: FixtureArchive, extra: Partial<OpenArchiveOptions>) =>
  openArchive({ sources: [{ uri: alt.url, suites: ['fixture'], components: ['main'], signedBy: alt.keyring }], architectures: ['amd64'], ...extra });

/** Another archive signed by the same key, served for the duration of `use`. */
async function withArchive(name: string, suites: FixtureSuite[], use: (alt: FixtureArchive) => Promise<void>): Promise<void> {
  const alt = await startFixtureArchive(join(scratch, name), { suites, key });
  try {
    await use(alt);
  } finally {
    await alt.close();
  }
}

describe('openArchive against a fixture archive on 127.0.0.1', { skip }, () => {
  before(async () => {
    server = await startFixtureArchive(root);
    ({ key, keyring } = server);
  });
  after(() => server?.close());

  it('verifies InRelease, fetches Packages.xz by hash, and loads every suite', async () => {
    server.requests.length = 0;
    const archive = await open(newCache());
    assert.deepEqual(archive.releases.map((r) => [r.suite, r.codename, r.label]), [
      ['fixture', 'fixture', 'Debian'],
      ['fixture-security', 'fixture-security', 'Debian-Security'],
    ]);
    const inRelease = readFileSync(join(root, 'dists', 'fixture', 'InRelease'));
    assert.equal(archive.releases[0]!.inRelease, `sha256:${sha256(inRelease)}`);
    assert.equal(archive.releases[0]!.signer, key.fingerprint.toUpperCase());
    const xz = readFileSync(join(root, 'dists', 'fixture', 'main', 'binary-amd64', 'Packages.xz'));
    assert.ok(server.requests.includes(`/dists/fixture/main/binary-amd64/by-hash/SHA256/${sha256(xz)}`), server.requests.join('\n'));
    assert.ok(!server.requests.some((r) => r.endsWith('.gz')), 'the .xz index is preferred');
    const libfoo = archive.packages('amd64').filter((p) => p.name === 'libfoo1');
    assert.deepEqual(libfoo.map((p) => `${p.version} ${p.origin.suite}`).sort(), ['1.0-1 fixture', '1.0-1+deb12u1 fixture-security']);
    const isHelpers = archive.packages('amd64').find((p) => p.name === 'init-system-helpers');
    assert.equal(isHelpers?.architecture, 'all', 'arch:all packages come from binary-amd64 (No-Support-for-Architecture-all)');
  });

  it('a warm open fetches only the InRelease files; --offline fetches nothing', async () => {
    const cache = newCache();
    await open(cache);
    server.requests.length = 0;
    await open(cache);
    assert.deepEqual(server.requests.sort(), ['/dists/fixture-security/InRelease', '/dists/fixture/InRelease']);
    server.requests.length = 0;
    const offline = await open(cache, { offline: true });
    assert.deepEqual(server.requests, []);
    assert.equal(offline.packages('amd64').length, 14);
  });

  it('--offline with an expired cached InRelease says to refresh it', async () => {
    const day = 86_400_000;
    // Relative to the real clock: the signature itself is made now.
    const start = Date.now();
    const suites = sampleSuites().map((s) => ({ ...s, date: new Date(start - day), validUntil: new Date(start + 7 * day) }));
    await withArchive('archive-valid-until', suites, async (alt) => {
      const cache = newCache();
      const at = (days: number, offline = false) => openOne(alt, { cacheDir: cache, now: new Date(start + days * day), offline });
      await at(0);
      assert.equal((await at(2, true)).packages('amd64').length, 13);
      await assert.rejects(at(30, true), (e) =>
        isPithError(e, 'RELEASE_EXPIRED') && e.message.includes('/dists/fixture/InRelease') && e.message.includes('run once without --offline'));
      await assert.rejects(at(30), (e) => isPithError(e, 'RELEASE_EXPIRED') && !e.message.includes('--offline'));
    });
  });

  it('--offline with an empty cache names what is missing', async () => {
    await assert.rejects(open(newCache(), { offline: true }), (e) =>
      isPithError(e, 'OFFLINE_MISSING') && e.message.includes(`InRelease of ${server.url}/dists/fixture/InRelease`) && e.message.includes('fixture-security'));
  });

  it('falls back to .gz when no .xz is listed, and to the plain path without Acquire-By-Hash', async () => {
    const suites = sampleSuites().map((s) => ({ ...s, compressions: ['gz' as const], acquireByHash: false }));
    await withArchive('archive-gz', suites, async (alt) => {
      const archive = await openOne(alt, { cacheDir: newCache() });
      assert.ok(alt.requests.includes('/dists/fixture/main/binary-amd64/Packages.gz'), alt.requests.join('\n'));
      assert.ok(!alt.requests.some((r) => r.includes('by-hash')));
      assert.equal(archive.packages('amd64').length, 13);
    });
  });

  it('fetches binary-all when the Release does not say No-Support-for-Architecture-all', async () => {
    const suites = sampleSuites().map((s) => ({ ...s, architectures: ['amd64', 'all'], noSupportForArchitectureAll: false }));
    await withArchive('archive-all', suites, async (alt) => {
      const archive = await openOne(alt, { cacheDir: newCache() });
      assert.ok(alt.requests.some((r) => r.startsWith('/dists/fixture/main/binary-all/')), alt.requests.join('\n'));
      assert.equal(archive.packages('amd64').filter((p) => p.name === 'init-system-helpers').length, 1);
    });
  });

  it('an architecture no source serves is refused by name, saying why for each source', async () => {
    await assert.rejects(open(newCache(), { architectures: ['amd64', 'arm64'] }), (e) =>
      isPithError(e, 'ARCHITECTURE_NOT_SERVED') && e.message.includes('"arm64"') && e.message.includes(`${server.url} fixture: its Release lists amd64`));
    const limited = sources().map((s) => ({ ...s, architectures: ['arm64'] }));
    await assert.rejects(openArchive({ sources: limited, architectures: ['amd64'], cacheDir: newCache() }), (e) =>
      isPithError(e, 'ARCHITECTURE_NOT_SERVED') && e.message.includes('"amd64"') && e.message.includes('fixture-security: limited to arm64 by its architectures'));
  });

  it('refuses a tampered InRelease and caches nothing', async () => {
    const cache = newCache();
    server.fault({ kind: 'tamper', match: /\/dists\/fixture\/InRelease$/ });
    try {
      await assert.rejects(open(cache), (e) => isPithError(e) && /^RELEASE_(BAD_SIGNATURE|MALFORMED|NOT_SIGNED)$/.test(e.code) && e.message.includes('/dists/fixture/InRelease'));
    } finally {
      server.fault(null);
    }
    assert.deepEqual(blobs(cache).length <= 1, true, 'at most the other suite\'s verified InRelease');
  });

  it('refuses an index whose hash does not match the InRelease, and does not cache it', async () => {
    const cache = newCache();
    server.fault({ kind: 'tamper', match: /binary-amd64\/.*/ });
    try {
      await assert.rejects(open(cache), (e) => isPithError(e, 'INDEX_HASH_MISMATCH') && /expected SHA256 [0-9a-f]{64} as listed in .*InRelease, found [0-9a-f]{64}; nothing was cached/.test(e.message));
    } finally {
      server.fault(null);
    }
    const indexBlobs = blobs(cache).filter((b) => !readFileSync(join(cache, 'blobs', 'sha256', b)).toString('latin1').startsWith('-----BEGIN PGP'));
    assert.deepEqual(indexBlobs, []);
  });

  it('refuses a truncated index (size mismatch)', async () => {
    server.fault({ kind: 'truncate', match: /binary-amd64\/.*/ });
    try {
      await assert.rejects(open(newCache()), (e) => isPithError(e, 'INDEX_SIZE_MISMATCH') && /expected \d+ bytes as listed in .*InRelease, received \d+/.test(e.message));
    } finally {
      server.fault(null);
    }
  });

  it('refuses an InRelease whose suite is not the one asked for', async () => {
    const other = readFileSync(join(root, 'dists', 'fixture-security', 'InRelease'));
    server.fault({ kind: 'replace', match: /\/dists\/fixture\/InRelease$/, body: other });
    try {
      await assert.rejects(open(newCache()), (e) => isPithError(e, 'RELEASE_SUITE_MISMATCH') && e.message.includes('/dists/fixture/InRelease'));
    } finally {
      server.fault(null);
    }
  });

  it('refuses a source whose keyring is missing', async () => {
    await assert.rejects(
      openArchive({ sources: [{ uri: server.url, suites: ['fixture'], components: ['main'], signedBy: join(scratch, 'nope.gpg') }], architectures: ['amd64'], cacheDir: newCache() }),
      (e) => isPithError(e, 'KEYRING_MISSING') && e.message.includes('nope.gpg'),
    );
  });

  it('refuses an archive signed by a key outside the keyring', async () => {
    const stranger = await generateFixtureKey('stranger');
    const strangerRing = writeKeyring(mkdtempSync(join(scratch, 'ring-')), stranger).armored;
    await assert.rejects(
      openArchive({ sources: [{ uri: server.url, suites: ['fixture'], components: ['main'], signedBy: strangerRing }], architectures: ['amd64'], cacheDir: newCache() }),
      (e) => isPithError(e, 'RELEASE_UNKNOWN_KEY'),
    );
  });

  it('retries 5xx and 429, then succeeds', async () => {
    server.requests.length = 0;
    server.fault({ kind: 'status', status: 503, times: 2, match: /InRelease$/ });
    try {
      const archive = await open(newCache());
      assert.equal(archive.releases.length, 2);
    } finally {
      server.fault(null);
    }
    server.fault({ kind: 'status', status: 429, times: 1, retryAfter: 0, match: /Packages/ });
    try {
      await open(newCache());
    } finally {
      server.fault(null);
    }
  });

  it('network down: bounded retries, a clear error, and the cache left intact', async () => {
    const cache = newCache();
    await open(cache);
    const before = blobs(cache);
    server.requests.length = 0;
    server.fault({ kind: 'down' });
    try {
      await assert.rejects(open(cache), (e) => isPithError(e, 'NETWORK') && /could not fetch after 4 attempts/.test(e.message) && e.message.includes(server.url));
    } finally {
      server.fault(null);
    }
    assert.deepEqual(blobs(cache), before);
    const offline = await open(cache, { offline: true });
    assert.equal(offline.packages('amd64').length, 14);
  });

  it('a warm open reads the parsed-index cache, and gets exactly what a fresh parse gives', async () => {
    const cache = newCache();
    const fresh = await open(cache);
    const hits: string[] = [];
    const onEvent = (e: ArchiveEvent) => { if (e.kind === 'cache-hit') hits.push(e.what); };
    const warm = await open(cache, { offline: true, onEvent });
    assert.equal(hits.filter((h) => h.endsWith('/Packages')).length, 2, hits.join('\n'));
    assert.deepStrictEqual(warm.packages('amd64'), fresh.packages('amd64'));
  });

  it('a parsed-index cache entry this pith did not write is a miss, not an error', async () => {
    const cache = newCache();
    const fresh = await open(cache);
    const store = new ContentStore(cache);
    const refs = join(cache, 'refs', PACKAGE_ROWS_FORMAT);
    const keys = readdirSync(refs).map((f) => readFileSync(join(refs, f), 'utf8').trim().slice(65));
    assert.equal(keys.length, 2);
    // Intact blobs (their digests match) that are not entries: garbage, another format, rows of the wrong shape.
    const impostors = ['not JSON', JSON.stringify({ format: 'packages-rows-v1', rows: [] }), JSON.stringify({ format: PACKAGE_ROWS_FORMAT, rows: [['x']] }), 'null'].map((t) => Buffer.from(t));
    for (const impostor of impostors) {
      for (const k of keys) await store.setRef(PACKAGE_ROWS_FORMAT, k, await store.put(impostor));
      const hits: string[] = [];
      const again = await open(cache, { offline: true, onEvent: (e) => { if (e.kind === 'cache-hit') hits.push(e.what); } });
      assert.deepEqual(hits.filter((h) => h.endsWith('/Packages')), [], 'parsed from the cached index, not taken from the impostor');
      assert.deepStrictEqual(again.packages('amd64'), fresh.packages('amd64'));
    }
    // The miss rewrote the entries, so the next open reads them again.
    const hits: string[] = [];
    await open(cache, { offline: true, onEvent: (e) => { if (e.kind === 'cache-hit') hits.push(e.what); } });
    assert.equal(hits.filter((h) => h.endsWith('/Packages')).length, 2);
  });

  it('a corrupted cache entry is detected on read and fetched again', async () => {
    const cache = newCache();
    await open(cache);
    for (const b of blobs(cache)) {
      const path = join(cache, 'blobs', 'sha256', b);
      const data = readFileSync(path);
      if (data.toString('latin1').startsWith('-----BEGIN PGP')) continue;
      (await import('node:fs')).writeFileSync(path, data.subarray(0, data.length - 10));
    }
    await assert.rejects(open(cache, { offline: true }), (e) => isPithError(e, 'OFFLINE_MISSING') && /index .*Packages/.test(e.message));
    const again = await open(cache);
    assert.equal(again.packages('amd64').length, 14);
  });
});

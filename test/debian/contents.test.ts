import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContentsIndex, isLibraryPath, isPithError, openArchive, parseContents, type OpenArchiveOptions } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { sampleSuites, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' });
const scratch = mkdtempSync(join(tmpdir(), 'pith-contents-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('parseContents', () => {
  it('keeps shared objects and loaders under lib directories, keyed as merged /usr holds them', () => {
    const text = [
      'bin/bash                                                shells/bash',
      'lib/x86_64-linux-gnu/libc.so.6                          libs/libc6',
      'lib64/ld-linux-x86-64.so.2                              libs/libc6',
      'usr/lib/x86_64-linux-gnu/libssl.so.3                    libs/libssl3',
      'usr/lib/x86_64-linux-gnu/libssl.so                      libdevel/libssl-dev',
      'usr/lib/x86_64-linux-gnu/libGL.so.1                     libs/libgl1,non-free/libs/nvidia-libgl1',
      'usr/lib/x86_64-linux-gnu/with space/libodd.so.1         contrib/libs/odd',
      'usr/share/gdb/auto-load/lib/x86_64-linux-gnu/libc.so.6-gdb.py libdevel/libc6-dev',
      'etc/ld.so.conf.d/x86_64-linux-gnu.conf                  libs/libc6',
      'usr/lib/x86_64-linux-gnu/libfoo.so.1.2.3                libs/libfoo1',
      'lib/x86_64-linux-gnu/libfoo.so.1.2.3                    libs/libfoo1-compat',
      '',
    ].join('\n');
    const index = parseContents(Buffer.from(text), 'Contents-amd64');
    assert.deepEqual(index.packages('/lib/x86_64-linux-gnu/libc.so.6'), ['libc6']);
    assert.deepEqual(index.packages('/usr/lib/x86_64-linux-gnu/libc.so.6'), ['libc6'], 'either side of the merge');
    assert.deepEqual(index.packages('/lib64/ld-linux-x86-64.so.2'), ['libc6']);
    assert.deepEqual(index.packages('/usr/lib/x86_64-linux-gnu/libssl.so'), ['libssl-dev']);
    assert.deepEqual(index.packages('/usr/lib/x86_64-linux-gnu/libGL.so.1'), ['libgl1', 'nvidia-libgl1'], 'area/section/package');
    assert.deepEqual(index.packages('/usr/lib/x86_64-linux-gnu/with space/libodd.so.1'), ['odd']);
    assert.deepEqual(index.packages('/usr/lib/x86_64-linux-gnu/libfoo.so.1.2.3'), ['libfoo1', 'libfoo1-compat'], 'one file, two spellings');
    assert.deepEqual(index.packages('/bin/bash'), [], 'not a library: not kept');
    assert.deepEqual(index.packages('/usr/share/gdb/auto-load/lib/x86_64-linux-gnu/libc.so.6-gdb.py'), []);
    assert.deepEqual(index.packages('/etc/ld.so.conf.d/x86_64-linux-gnu.conf'), []);
    assert.deepEqual(index.packages('/../../x'), []);
    assert.equal(index.size, 7);
    assert.deepEqual(index.pathsNamed('libc.so.6'), ['/usr/lib/x86_64-linux-gnu/libc.so.6']);

    const again = ContentsIndex.fromText(index.toText(), ['cache']);
    assert.equal(again.toText(), index.toText());
    assert.deepEqual(again.packages('/usr/lib/x86_64-linux-gnu/libGL.so.1'), ['libgl1', 'nvidia-libgl1']);
    const merged = ContentsIndex.merge([index, parseContents(Buffer.from('usr/lib/x86_64-linux-gnu/libc.so.6 libs/libc6-other\n'), 'b')]);
    assert.deepEqual(merged.packages('/lib/x86_64-linux-gnu/libc.so.6'), ['libc6', 'libc6-other']);
    assert.deepEqual(merged.sources, ['Contents-amd64', 'b']);
  });

  it('skips an old-style preamble and refuses paths that leave /', () => {
    const old = 'This file maps each file available in the Debian\nsystem to the package from which it originates.\n\nFILE                                                    LOCATION\nlib/libz.so.1 libs/zlib1g\n';
    assert.deepEqual(parseContents(Buffer.from(old), 'old').packages('/usr/lib/libz.so.1'), ['zlib1g']);
    assert.throws(() => parseContents(Buffer.from('../../etc/libx.so.1 libs/x\n'), 'Contents-evil'), (e) =>
      isPithError(e, 'CONTENTS_MALFORMED') && e.message.startsWith('Contents-evil: '));
  });

  it('isLibraryPath', () => {
    assert.ok(isLibraryPath('/usr/lib/x86_64-linux-gnu/libssl.so.3'));
    assert.ok(isLibraryPath('/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so'));
    assert.ok(!isLibraryPath('/usr/lib/x86_64-linux-gnu/libssl.a'));
    assert.ok(!isLibraryPath('/usr/share/lib/libx.so.1'));
    assert.ok(!isLibraryPath('/etc/ld.so.conf'));
  });
});

describe('Archive.contents against a fixture archive on 127.0.0.1', { skip }, () => {
  let server: FixtureArchive;
  const opts = (cacheDir: string, extra: Partial<OpenArchiveOptions> = {}): OpenArchiveOptions => ({
    sources: [{ uri: server.url, suites: ['fixture', 'fixture-security'], components: ['main'], signedBy: server.keyring }],
    architectures: ['amd64'],
    cacheDir,
    fetch: { backoffMs: 5 },
    ...extra,
  });
  const newCache = () => mkdtempSync(join(scratch, 'cache-'));
  const contentsRequests = () => server.requests.filter((r) => r.includes('Contents') || r.includes('/main/by-hash/'));
  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
  });
  after(() => server?.close());

  it('is fetched only when asked for, by hash, from every suite, and verified', async () => {
    const cache = newCache();
    server.requests.length = 0;
    const archive = await openArchive(opts(cache));
    assert.deepEqual(contentsRequests(), [], 'opening the archive reads no Contents');
    const contents = await archive.contents('amd64');
    const fetched = contentsRequests();
    assert.equal(fetched.length, 2, fetched.join('\n'));
    assert.ok(fetched.every((r) => /^\/dists\/fixture(-security)?\/main\/by-hash\/SHA256\/[0-9a-f]{64}$/.test(r)), fetched.join('\n'));
    assert.deepEqual(contents.packages('/usr/lib/x86_64-linux-gnu/libfoo.so.1'), ['libfoo1']);
    assert.deepEqual(contents.packages('/lib/x86_64-linux-gnu/libbar.so.2'), ['libbar2']);
    assert.deepEqual(contents.packages('/usr/bin/app'), []);
    assert.equal(contents.sources.length, 2);
    assert.equal(await archive.contents('amd64'), contents, 'loaded once per archive');

    server.requests.length = 0;
    const warm = await (await openArchive(opts(cache))).contents('amd64');
    assert.deepEqual(contentsRequests(), [], 'a warm lookup reads the compact cached form');
    assert.equal(warm.toText(), contents.toText());
    const offline = await (await openArchive(opts(cache, { offline: true }))).contents('amd64');
    assert.equal(offline.toText(), contents.toText());
  });

  it('offline without a cached Contents names what is missing', async () => {
    const cache = newCache();
    await openArchive(opts(cache));
    const archive = await openArchive(opts(cache, { offline: true }));
    await assert.rejects(archive.contents('amd64'), (e) => isPithError(e, 'OFFLINE_MISSING') && e.message.includes('/dists/fixture/main/Contents-amd64'));
  });

  it('a tampered Contents is refused and nothing of it is cached', async () => {
    const cache = newCache();
    const archive = await openArchive(opts(cache));
    const before = readdirSync(join(cache, 'blobs', 'sha256')).length;
    server.fault({ kind: 'tamper', match: /\/main\/by-hash\/|Contents/ });
    try {
      await assert.rejects(archive.contents('amd64'), (e) => isPithError(e, 'INDEX_HASH_MISMATCH') && e.message.includes('nothing was cached'));
    } finally {
      server.fault(null);
    }
    assert.equal(readdirSync(join(cache, 'blobs', 'sha256')).length, before);
    assert.ok(!existsSync(join(cache, 'refs', 'contents-libraries-v1')));
    assert.ok((await archive.contents('amd64')).size > 0, 'a failed load is not remembered');
  });

  it('reads the .gz that the real archive offers when there is no .xz, and suites without Contents are skipped', async () => {
    const suites = sampleSuites().map((s) => ({ ...s, compressions: ['gz' as const], acquireByHash: false }));
    const alt = await startFixtureArchive(join(scratch, 'gz'), { suites, key: server.key });
    try {
      const archive = await openArchive({ ...opts(newCache()), sources: [{ uri: alt.url, suites: ['fixture'], components: ['main'], signedBy: alt.keyring }] });
      alt.requests.length = 0;
      const contents = await archive.contents('amd64');
      assert.deepEqual(alt.requests, ['/dists/fixture/main/Contents-amd64.gz']);
      assert.deepEqual(contents.packages('/usr/lib/x86_64-linux-gnu/libc.so.6'), ['libc6']);
      const bare = await startFixtureArchive(join(scratch, 'bare'), { suites: sampleSuites().map((s) => ({ ...s, contents: false })), key: server.key });
      try {
        const warnings: string[] = [];
        const none = await openArchive({ ...opts(newCache()), sources: [{ uri: bare.url, suites: ['fixture'], components: ['main'], signedBy: bare.keyring }], onEvent: (e) => { if (e.kind === 'warning') warnings.push(e.message); } });
        assert.equal((await none.contents('amd64')).size, 0);
        assert.ok(warnings.some((w) => w.includes('lists no main/Contents-amd64')), warnings.join('\n'));
      } finally {
        await bare.close();
      }
    } finally {
      await alt.close();
    }
  });
});

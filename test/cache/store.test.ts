import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ContentStore, defaultCacheDir, isPithError, writeFileAtomic } from 'pith';
import { makeDirs, removeStaleTemps, STALE_TEMP_AGE_MS, tempSibling, unwritable } from '../../src/cache/store.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-store-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const tmp = () => mkdtempSync(join(scratch, 'store-'));

test('a blob round-trips under its SHA256', async () => {
  const store = new ContentStore(tmp());
  const digest = await store.put(Buffer.from('hello\n'));
  assert.equal(digest, '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03');
  assert.equal((await store.get(digest))?.toString(), 'hello\n');
  assert.equal(await store.get('0'.repeat(64)), null);
});

test('put refuses bytes that do not match the expected digest, and writes nothing', async () => {
  const root = tmp();
  const store = new ContentStore(root);
  await assert.rejects(store.put(Buffer.from('x'), 'a'.repeat(64)), (e) => isPithError(e, 'CACHE_DIGEST_MISMATCH'));
  assert.deepEqual(readdirSync(root), []);
});

test('a corrupted blob is treated as absent and removed (verify on read)', async () => {
  const store = new ContentStore(tmp());
  const digest = await store.put(Buffer.from('original'));
  writeFileSync(store.blobPath(digest), 'tampered');
  assert.equal(await store.get(digest), null);
  assert.equal(await store.has(digest), false);
});

test('refs map a key to a digest and ignore hash collisions of other keys', async () => {
  const store = new ContentStore(tmp());
  const digest = await store.put(Buffer.from('InRelease bytes'));
  await store.setRef('inrelease', 'http://127.0.0.1:1/dists/x/InRelease', digest);
  assert.equal(await store.getRef('inrelease', 'http://127.0.0.1:1/dists/x/InRelease'), digest);
  assert.equal(await store.getRef('inrelease', 'http://127.0.0.1:1/dists/y/InRelease'), null);
});

test('the default cache honours XDG_CACHE_HOME', () => {
  assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache' }), '/x/cache/pith');
  assert.match(defaultCacheDir({}), /\/\.cache\/pith$/);
});

test('writeFileAtomic leaves no temp files and replaces the target whole', async () => {
  const dir = tmp();
  const path = join(dir, 'a', 'file');
  await writeFileAtomic(path, 'one');
  await writeFileAtomic(path, 'two');
  assert.equal(readFileSync(path, 'utf8'), 'two');
  assert.deepEqual(readdirSync(join(dir, 'a')), ['file']);
});

test('removeStaleTemps clears what dead writers left, and nothing a live process is writing', async () => {
  const dir = tmp();
  const dead = spawnSync('true').pid!; // exited and reaped: no process has this id now
  const mine = tempSibling(join(dir, 'out.tar'));
  assert.match(mine, new RegExp(`/\\.out\\.tar\\.tmp-${process.pid}-[0-9a-f]{12}$`));
  writeFileSync(mine, 'in progress');
  writeFileSync(join(dir, `.out.tar.tmp-${dead}-0123456789ab`), 'left by a killed build');
  mkdirSync(join(dir, `.layout.tmp-${dead}-0123456789ab`));
  writeFileSync(join(dir, `.other.tmp-${dead}-0123456789ab`), 'another target');
  writeFileSync(join(dir, 'out.tar'), 'the output');
  await removeStaleTemps(dir, 'out.tar');
  assert.deepEqual(readdirSync(dir).sort(), [`.layout.tmp-${dead}-0123456789ab`, `.other.tmp-${dead}-0123456789ab`, mine.slice(dir.length + 1), 'out.tar'].sort());
  await removeStaleTemps(dir);
  assert.deepEqual(readdirSync(dir).sort(), [mine.slice(dir.length + 1), 'out.tar'].sort());
});

test('a store clears what a killed download left in its blobs on first use, never a live or recent writer\'s', async () => {
  const root = tmp();
  const blobs = join(root, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const dead = spawnSync('true').pid!;
  const hex = 'ab'.repeat(32);
  const stale = join(blobs, `.${hex}.tmp-${dead}-0123456789ab`);
  const recent = join(blobs, `.${hex}.tmp-${dead}-ba9876543210`); // maybe a writer in another PID namespace
  const live = join(blobs, `.${hex}.tmp-${process.pid}-00112233aabb`);
  for (const f of [stale, recent, live]) writeFileSync(f, 'partial .deb');
  const old = (Date.now() - 2 * STALE_TEMP_AGE_MS) / 1000;
  utimesSync(stale, old, old);
  utimesSync(live, old, old);
  const store = new ContentStore(root);
  assert.equal(await store.get(hex), null);
  assert.deepEqual(readdirSync(blobs).sort(), [recent, live].map((f) => f.slice(blobs.length + 1)).sort());
});

test('makeDirs creates missing parents one level at a time and fails at once where the system refuses', { timeout: 30_000 }, async () => {
  const dir = tmp();
  await makeDirs(join(dir, 'a', 'b', 'c'));
  await makeDirs(join(dir, 'a', 'b', 'c'));
  assert.deepEqual(readdirSync(join(dir, 'a', 'b')), ['c']);
  writeFileSync(join(dir, 'file'), 'x');
  await assert.rejects(makeDirs(join(dir, 'file')), { code: 'EEXIST' });
  await assert.rejects(makeDirs(join(dir, 'file', 'sub')), { code: 'ENOTDIR' });
  // The case Node's recursive mkdir loops on (EEXIST for /proc, ENOENT below it): in a child, so a hang fails.
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
    import { makeDirs } from ${JSON.stringify(new URL('../../src/cache/store.ts', import.meta.url).pathname)};
    await makeDirs('/proc/pith-test/a/b').catch((e) => console.log(e.code));`], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(child.stdout.trim(), 'ENOENT', child.stderr);
});

test('writeFileAtomic where it cannot write is OUTPUT_UNWRITABLE naming the file and what the system said', { timeout: 30_000 }, async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'file'), 'x');
  await assert.rejects(writeFileAtomic(join(dir, 'file', 'x.lock'), 'y'), (e) => isPithError(e, 'OUTPUT_UNWRITABLE') && e.message.includes(`"${join(dir, 'file', 'x.lock')}"`) && /ENOTDIR|EEXIST/.test(e.message));
  await assert.rejects(writeFileAtomic('/sys/pith-test.lock', 'y'), (e) => isPithError(e, 'OUTPUT_UNWRITABLE') && e.message.includes('EACCES'));
  assert.deepEqual(readdirSync(dir), ['file']);
});

test('unwritable converts only refusals of the output, its temp file or its directories', () => {
  const refusal = (code: string, path?: string, syscall = 'open') => Object.assign(new Error(`${code}: refused`), { code, syscall, ...(path ? { path } : {}) });
  const target = '/out/dir/image.tar';
  for (const path of [target, '/out/dir/.image.tar.tmp-1-0123456789ab', '/out', `${target}/blobs/x`]) {
    assert.ok(isPithError(unwritable(refusal('EACCES', path), target, 'the archive'), 'OUTPUT_UNWRITABLE'), path);
  }
  assert.ok(isPithError(unwritable(refusal('ENOSPC', undefined, 'write'), target, 'the archive'), 'OUTPUT_UNWRITABLE'));
  // Reading what is to be written (a source layout's blob beside the output) is not the output's fault.
  const source = refusal('ENOENT', '/out/dir/source/blobs/sha256/aa');
  assert.equal(unwritable(source, target, 'the archive'), source);
  const bug = new TypeError('x is undefined');
  assert.equal(unwritable(bug, target, 'the archive'), bug);
});

test('two processes writing the same blobs concurrently never expose a partial file', async () => {
  const root = tmp();
  const script = `
    import { ContentStore } from 'pith';
    const store = new ContentStore(${JSON.stringify(root)});
    const big = Buffer.alloc(4 << 20, 7);
    for (let i = 0; i < 20; i++) {
      big[0] = i;
      await store.put(big);
    }`;
  const run = () =>
    new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'inherit' });
      child.on('exit', (code) => resolve(code ?? -1));
    });
  const store = new ContentStore(root);
  const codes = await Promise.all([run(), run()]);
  assert.deepEqual(codes, [0, 0]);
  const blobs = readdirSync(join(root, 'blobs', 'sha256'));
  assert.equal(blobs.length, 20, `expected 20 blobs and no temp files, found ${blobs.join(' ')}`);
  for (const b of blobs) assert.ok(await store.get(b), `blob ${b} verifies`);
});

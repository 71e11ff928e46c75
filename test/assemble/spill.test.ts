import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { join, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'pith';
import { Spill } from '../../src/assemble/spill.ts';
import { STALE_TEMP_AGE_MS } from '../../src/cache/store.ts';
import { contentPieces, isStored, readContent, sameContent } from '../../src/fs/content.ts';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-spill-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

async function* pieces(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

describe('Spill', () => {
  it('keeps small files in memory while its budget lasts, and the rest on disk, byte for byte', async () => {
    const spill = await Spill.open(join(scratch, 'cache1'), { memoryBudget: 10, largeFile: 100 });
    const a = spill.keep(Buffer.from('12345678'));
    const b = spill.keep(Buffer.from('abcdefgh'));
    const c = spill.keep(Buffer.from('ijk'));
    assert.ok(!isStored(a), 'within the budget: in memory');
    assert.ok(isStored(b) && isStored(c), 'past the budget: on disk');
    spill.flush();
    assert.equal(Buffer.from(readContent(b)).toString(), 'abcdefgh');
    assert.equal(Buffer.from(readContent(c)).toString(), 'ijk');
    const big = await spill.keepPieces(pieces('large ', 'file ', 'in pieces'));
    assert.equal(Buffer.from(readContent(big)).toString(), 'large file in pieces');
    assert.ok(sameContent(big, Buffer.from('large file in pieces')));
    assert.ok(!sameContent(b, Buffer.from('abcdefgX')));
    spill.close();
    assert.equal(existsSync(spill.dir), false, 'closing removes what was spilled');
  });

  it('copies what it is handed as transient, in memory and on disk, so the reader may use its buffer again', async () => {
    const spill = await Spill.open(join(scratch, 'cache4'), { memoryBudget: 4, largeFile: 100 });
    const reused = Buffer.from('abcdefgh');
    const inMemory = spill.keep(reused.subarray(0, 4), { transient: true });
    const onDisk = spill.keep(reused.subarray(4), { transient: true });
    assert.ok(!isStored(inMemory) && isStored(onDisk));
    reused.fill(0x58);
    spill.flush();
    assert.equal(Buffer.from(readContent(inMemory)).toString(), 'abcd');
    assert.equal(Buffer.from(readContent(onDisk)).toString(), 'efgh');
    spill.close();
  });

  it('gathers small contents into large writes, in the order and at the offsets it handed out', async () => {
    const spill = await Spill.open(join(scratch, 'cache3'), { memoryBudget: 0 });
    const sizes = [3, 2 ** 20 - 1, 2 ** 20 + 5, 700_000, 400_000, 1];
    const originals = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    const kept = originals.map((b) => spill.keep(b));
    spill.flush();
    kept.forEach((k, i) => assert.ok(Buffer.from(readContent(k)).equals(originals[i]!), `content ${i} of ${sizes[i]} bytes`));
    spill.close();
  });

  it('clears what a killed build left behind long ago, and leaves a running one\'s spill alone', async () => {
    const cache = join(scratch, 'cache2');
    const dead = spawnSync('true').pid!;
    const left = join(cache, 'spill', `.build.tmp-${dead}-0123456789ab`);
    const recent = join(cache, 'spill', `.build.tmp-${dead}-ba9876543210`);
    mkdirSync(left, { recursive: true });
    mkdirSync(recent);
    const longAgo = (Date.now() - 2 * STALE_TEMP_AGE_MS) / 1000;
    utimesSync(left, longAgo, longAgo);
    const running = await Spill.open(cache);
    const next = await Spill.open(cache);
    assert.deepEqual(readdirSync(join(cache, 'spill')).sort(), [running.dir, next.dir, recent].map((d) => d.slice(d.lastIndexOf('/') + 1)).sort(), 'a dead build\'s spill untouched for a while is cleared; a recent one may belong to a build in another PID namespace');
    running.close();
    next.close();
  });

  it('fails reading content whose file no longer holds what was hashed, naming the file', async () => {
    const host = join(scratch, 'host.bin');
    writeFileSync(host, 'before');
    const content = { file: host, offset: 0, size: 6, sha256: 'ab'.repeat(32), foreign: true };
    assert.throws(() => [...contentPieces(content)], (e: Error & { code?: string }) => e.code === 'CONTENT_CHANGED' && e.message.includes(host));
  });
});

/**
 * What `run` returns, and the bytes it wrote with writeSync to files it opened under a spill directory (the real
 * fs module, watched: Node's ES module bindings of node:fs follow its CommonJS exports once synced).
 */
async function spilled<T>(run: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
  const { openSync, writeSync } = fs;
  const spillFds = new Set<number>();
  let bytes = 0;
  fs.openSync = ((path: Parameters<typeof openSync>[0], ...rest: unknown[]) => {
    const fd = (openSync as (...a: unknown[]) => number)(path, ...rest);
    if (String(path).includes(`${sep}spill${sep}`)) spillFds.add(fd);
    return fd;
  }) as typeof openSync;
  fs.writeSync = ((fd: number, ...rest: unknown[]) => {
    const n = (writeSync as (...a: unknown[]) => number)(fd, ...rest);
    if (spillFds.has(fd)) bytes += n;
    return n;
  }) as typeof writeSync;
  syncBuiltinESMExports();
  try {
    return { result: await run(), bytes };
  } finally {
    fs.openSync = openSync;
    fs.writeSync = writeSync;
    syncBuiltinESMExports();
  }
}

describe('a build with no memory for file contents', { skip: missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' }) }, () => {
  let server: FixtureArchive;
  let spec: string;
  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
    const dir = mkdtempSync(join(scratch, 'spec-'));
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(5 * 1024 * 1024, 7));
    spec = join(dir, 'pith.yaml');
    writeFileSync(spec, fixtureSpec(server, 'packages: [app, libfoo1]\nfiles:\n  - from: big.bin\n    to: /opt/big.bin\n', 'spilled'));
  });
  after(() => server?.close());

  it('makes the very image a build holding everything in memory makes', async () => {
    const inMemory = await spilled(() => build(spec, { cacheDir: join(scratch, 'cache-memory'), outputs: [`oci:${join(scratch, 'out-memory')}`] }));
    const onDisk = await spilled(() => build(spec, { cacheDir: join(scratch, 'cache-disk'), contentMemory: 0, outputs: [`oci:${join(scratch, 'out-disk')}`] }));
    assert.equal(inMemory.bytes, 0, 'the fixture packages fit in the default budget: nothing written to the spill');
    assert.ok(onDisk.bytes > 0, 'with no memory for contents, the packages\' files went through the spill');
    assert.equal(onDisk.result.digest, inMemory.result.digest);
    assert.deepEqual(readdirSync(join(scratch, 'cache-disk', 'spill')), [], 'the spill is gone after the build');
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layerTar, encodeHeader } from '../../src/oci/tar.ts';
import { isPithError } from '../../src/errors.ts';
import type { FsEntry } from '../../src/fs/entry.ts';
import { missingTools } from '../fixtures/apt.ts';
import { LONG_DIR, UNICODE, readTar, sampleEntries, shuffled, withTempDir } from './helpers.ts';

const EPOCH = 1_700_000_000;

test('members are in byte order of their path, relative, directories with a trailing slash', async () => {
  const members = await readTar(layerTar(sampleEntries(), { sourceDateEpoch: EPOCH }));
  const names = members.map((m) => m.name);
  const expected = sampleEntries().map((e) => e.path).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  assert.deepEqual(names.map((n) => `/${n.replace(/\/$/, '')}`), expected);
  for (const m of members) {
    assert.ok(!m.name.startsWith('/'), m.name);
    assert.equal(m.name.endsWith('/'), m.type === 'directory', m.name);
  }
  // Every parent directory present in the layer comes before its children.
  const seen = new Set<string>();
  for (const n of names) {
    const parts = n.replace(/\/$/, '').split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = `${parts.slice(0, i).join('/')}/`;
      if (names.includes(parent)) assert.ok(seen.has(parent), `${parent} before ${n}`);
    }
    seen.add(n);
  }
});

test('the same entries in any order give the same bytes', () => {
  const reference = layerTar(sampleEntries(), { sourceDateEpoch: EPOCH });
  for (const seed of [1, 2, 3, 42, 1234]) {
    const again = layerTar(shuffled(sampleEntries(), seed), { sourceDateEpoch: EPOCH });
    assert.ok(Buffer.from(again).equals(Buffer.from(reference)), `seed ${seed}`);
  }
  assert.equal(reference.byteLength % 512, 0);
  assert.ok(Buffer.from(reference.subarray(-1024)).equals(Buffer.alloc(1024)), 'ends with two zero blocks');
});

test('mtimes are clamped to SOURCE_DATE_EPOCH; earlier ones are kept', async () => {
  const members = await readTar(layerTar(sampleEntries(), { sourceDateEpoch: EPOCH }));
  const byName = new Map(members.map((m) => [m.name, m]));
  assert.equal(byName.get('home/nonroot/.profile')!.mtime, EPOCH);
  assert.equal(byName.get('usr/bin/hello')!.mtime, 1_600_000_000);
  const early = await readTar(layerTar(sampleEntries(), { sourceDateEpoch: 1000 }));
  assert.ok(early.every((m) => m.mtime <= 1000));
  assert.throws(() => layerTar([], { sourceDateEpoch: -1 }), (e) => isPithError(e, 'OCI_BAD_EPOCH'));
  assert.throws(() => layerTar([], { sourceDateEpoch: 1.5 }), (e) => isPithError(e, 'OCI_BAD_EPOCH'));
});

test('long paths and non-ASCII names are carried by pax records', async () => {
  const members = await readTar(layerTar(sampleEntries(), { sourceDateEpoch: EPOCH }));
  const long = `${LONG_DIR}/file-with-a-long-name.txt`.slice(1);
  assert.ok(long.length > 100);
  const m = members.find((x) => x.name === long);
  assert.ok(m, 'long path read back whole');
  assert.equal(m.pax?.path, long);
  assert.equal(m.content.toString(), 'long\n');
  const u = members.find((x) => x.name === UNICODE.slice(1));
  assert.ok(u, 'non-ASCII path read back');
  assert.equal(u.pax?.path, UNICODE.slice(1));
  for (const x of members) {
    for (const key of Object.keys(x.pax ?? {})) assert.ok(!['atime', 'ctime'].includes(key), `no ${key} in ${x.name}`);
  }
});

test('a pax record length counts its own digits (99/100-byte boundary)', async () => {
  for (let n = 85; n <= 105; n++) {
    const path = `/${'a'.repeat(n)}é`;
    const [m] = await readTar(layerTar([{ type: 'dir', path, mode: 0o755, uid: 0, gid: 0, mtime: 0 }], { sourceDateEpoch: EPOCH }));
    assert.equal(m!.name, `${path.slice(1)}/`);
  }
});

test('hardlinks: the first path in order carries the content, the others link to it', async () => {
  const members = await readTar(layerTar(sampleEntries(), { sourceDateEpoch: EPOCH }));
  const byName = new Map(members.map((m) => [m.name, m]));
  const first = byName.get('usr/bin/aa-hello')!;
  assert.equal(first.type, 'file');
  assert.equal(first.content.toString(), '#!/bin/sh\necho hello\n');
  assert.equal(first.mode, 0o755, 'the inode mode, not the link entry');
  for (const n of ['usr/bin/hello', 'usr/bin/zz-hello']) {
    assert.equal(byName.get(n)!.type, 'link', n);
    assert.equal(byName.get(n)!.linkname, 'usr/bin/aa-hello', n);
    assert.equal(byName.get(n)!.size, 0);
  }
  const sym = byName.get('usr/bin/sh')!;
  assert.equal(sym.type, 'symlink');
  assert.equal(sym.linkname, '/usr/bin/hello', 'symlink targets are kept verbatim');
  assert.equal(byName.get('bin')!.linkname, 'usr/bin');
});

test('hardlink errors name the link and its target', () => {
  const file: FsEntry = { type: 'file', path: '/a', mode: 0o644, uid: 0, gid: 0, mtime: 0, content: new Uint8Array() };
  const cases: Array<[FsEntry[], RegExp]> = [
    [[{ type: 'hardlink', path: '/l', target: '/missing', uid: 0, gid: 0, mtime: 0 }], /"\/l".*"\/missing".*not in the same layer/],
    [[{ type: 'dir', path: '/d', mode: 0o755, uid: 0, gid: 0, mtime: 0 }, { type: 'hardlink', path: '/l', target: '/d', uid: 0, gid: 0, mtime: 0 }], /regular file, found a dir at "\/d"/],
    [[{ type: 'hardlink', path: '/x', target: '/y', uid: 0, gid: 0, mtime: 0 }, { type: 'hardlink', path: '/y', target: '/x', uid: 0, gid: 0, mtime: 0 }], /cycle/],
  ];
  for (const [entries, message] of cases) {
    assert.throws(() => layerTar([file, ...entries], { sourceDateEpoch: EPOCH }), (e) => isPithError(e, 'OCI_HARDLINK_TARGET') && message.test(e.message));
  }
});

test('bad paths and duplicates are refused', () => {
  const e = (path: string): FsEntry => ({ type: 'dir', path, mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  for (const bad of ['usr', '/', '/usr/', '/usr//bin', '/usr/../etc', '/./x', '/a\0b']) {
    assert.throws(() => layerTar([e(bad)], { sourceDateEpoch: EPOCH }), (x) => isPithError(x, 'OCI_BAD_PATH') && x.message.includes(JSON.stringify(bad)), bad);
  }
  assert.throws(() => layerTar([e('/usr'), e('/usr')], { sourceDateEpoch: EPOCH }), (x) => isPithError(x, 'OCI_DUPLICATE_PATH'));
});

test('owners are numeric with empty user and group names; ustar magic; no device numbers', () => {
  const tar = layerTar([{ type: 'dir', path: '/home/nonroot', mode: 0o700, uid: 65532, gid: 65533, mtime: 0 }], { sourceDateEpoch: EPOCH });
  const h = Buffer.from(tar.subarray(0, 512));
  assert.equal(h.toString('latin1', 0, 14), 'home/nonroot/\0');
  assert.equal(h.toString('latin1', 100, 108), '0000700\0');
  assert.equal(h.toString('latin1', 108, 116), '0177774\0');
  assert.equal(h.toString('latin1', 116, 124), '0177775\0');
  assert.equal(h.toString('latin1', 136, 148), '00000000000\0');
  assert.equal(String.fromCharCode(h[156]!), '5');
  assert.equal(h.toString('latin1', 257, 265), 'ustar\u000000');
  assert.ok(h.subarray(265, 329).equals(Buffer.alloc(64)), 'uname and gname are empty');
  assert.equal(h.toString('latin1', 329, 345), '0000000\u00000000000\0');
});

test('owners too large for ustar go into pax records, not saturated', async () => {
  const tar = layerTar([{ type: 'dir', path: '/big', mode: 0o755, uid: 3_000_000, gid: 4_000_000, mtime: 0 }], { sourceDateEpoch: EPOCH });
  const [m] = await readTar(tar);
  assert.equal(m!.pax?.uid, '3000000');
  assert.equal(m!.pax?.gid, '4000000');
  const header = encodeHeader({ name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 });
  assert.equal(header.byteLength, 512, 'no pax header when everything fits');
});

test('GNU tar reads the layer: names, owners, modes, links', async (t) => {
  const skip = missingTools({ tar: 'tar' });
  if (skip) return t.skip(skip);
  await withTempDir(async (dir) => {
    const file = join(dir, 'layer.tar');
    writeFileSync(file, layerTar([...sampleEntries(), { type: 'dir', path: '/big', mode: 0o755, uid: 3_000_000, gid: 4_000_000, mtime: 0 }], { sourceDateEpoch: EPOCH }));
    const r = spawnSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.some((l) => /^-rwsr-xr-x 0\/0 +6 .* usr\/bin\/su$/.test(l)), 'setuid kept');
    assert.ok(lines.some((l) => /^drwxrwxrwt 0\/0 .* tmp\/$/.test(l)), 'sticky kept');
    assert.ok(lines.some((l) => /^drwx------ 65532\/65532 .* home\/nonroot\/$/.test(l)));
    assert.ok(lines.some((l) => /^drwxr-xr-x 3000000\/4000000 .* big\/$/.test(l)));
    assert.ok(lines.some((l) => l.endsWith('usr/bin/zz-hello link to usr/bin/aa-hello')));
    assert.ok(lines.some((l) => l.endsWith(`${LONG_DIR.slice(1)}/file-with-a-long-name.txt`)));
    assert.ok(lines.some((l) => l.endsWith(UNICODE.slice(1))), 'UTF-8 name from pax');
  });
});

test('a file larger than the octal size field (8 GiB) gets its size in a pax record, as GNU tar and Go read it', () => {
  const size = 9 * 2 ** 30 + 5;
  const header = Buffer.from(encodeHeader({ name: 'opt/model.bin', type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 0 }));
  assert.equal(header.byteLength, 3 * 512, 'an extended header, its record, then the member');
  assert.equal(String.fromCharCode(header[156]!), 'x');
  assert.match(header.subarray(512, 1024).toString('latin1'), new RegExp(`^\\d+ size=${size}\\n`));
  assert.equal(header.subarray(1024 + 124, 1024 + 136).toString('latin1'), '00000000000\0', 'the ustar field holds 0, not a truncated size');
});

test('layerTarPieces hands out the same tar as layerTar, in pieces of at most about 1 MiB, checking every entry first', async () => {
  const { layerTarPieces } = await import('../../src/oci/tar.ts');
  const onDisk = join(tmpdir(), `pith-tar-test-${process.pid}`);
  const stored = Buffer.alloc(2 * 2 ** 20 + 11);
  for (let i = 0; i < stored.byteLength; i += 1000) stored.writeUInt32BE(i, i);
  writeFileSync(onDisk, Buffer.concat([Buffer.from('skipped'), stored]));
  const entries: FsEntry[] = [
    ...sampleEntries(),
    { type: 'file', path: '/big', mode: 0o644, uid: 0, gid: 0, mtime: 1, content: new Uint8Array(3 * 2 ** 20 + 3).fill(9) },
    { type: 'file', path: '/on-disk', mode: 0o644, uid: 0, gid: 0, mtime: 1, content: { file: onDisk, offset: 7, size: stored.byteLength } },
  ];
  const pieces = [...layerTarPieces(entries, { sourceDateEpoch: 10 })];
  assert.ok(pieces.every((p) => p.byteLength <= 2 ** 20 || p.byteLength === 3 * 2 ** 20 + 3), 'gathered pieces stay near 1 MiB; a file in memory is handed out as it is');
  assert.ok(Buffer.concat(pieces).equals(Buffer.from(layerTar(entries, { sourceDateEpoch: 10 }))));
  // Transient pieces reuse their buffers: copied as they come, they are the same tar.
  const copies = [...layerTarPieces(entries, { sourceDateEpoch: 10, transient: true })].map((p) => p.byteLength);
  const transient: Buffer[] = [];
  for (const p of layerTarPieces(entries, { sourceDateEpoch: 10, transient: true })) transient.push(Buffer.from(p));
  assert.deepEqual(transient.map((p) => p.byteLength), copies);
  assert.ok(Buffer.concat(transient).equals(Buffer.concat(pieces)));
  assert.ok(Buffer.concat(pieces).includes(stored), 'the stored content, read from its offset');
  rmSync(onDisk);
  assert.throws(() => layerTarPieces([...entries, { type: 'hardlink', path: '/link', uid: 0, gid: 0, mtime: 0, target: '/nowhere' }], { sourceDateEpoch: 10 }), (e) => isPithError(e, 'OCI_HARDLINK_TARGET'));
});

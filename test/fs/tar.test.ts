/**
 * The one tar reader (src/fs/tar.ts), as its callers use it: a layer held in memory, a .deb member streamed out of
 * a decompressor, an image archive indexed on disk. Archives come from GNU tar and tar-stream (not from pith's
 * writer), and hostile ones are made block by block.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, symlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { bytesSource, memberName, readTar, streamSource, TarError, TarFile, type TarSource } from '../../src/fs/tar.ts';
import { tarOf } from '../fixtures/debs.ts';
import { missingTools } from '../fixtures/apt.ts';

const EPOCH = 1_700_000_000;
const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const scratch = mkdtempSync(join(tmpdir(), 'pith-tar-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Every member with its content (regular files) as text, the way a caller walks an archive. */
async function walk(source: TarSource, where = 'test.tar') {
  const out: Array<{ name: string; type: string; mode: number; uid: number; mtime: number; linkname: string; content?: string }> = [];
  for await (const m of readTar(source, { where })) {
    const content = m.type === 'file' ? text(await m.content()) : undefined;
    out.push({ name: m.name, type: m.type, mode: m.mode, uid: m.uid, mtime: m.mtime, linkname: m.linkname, ...(content === undefined ? {} : { content }) });
  }
  return out;
}

/** The same bytes in chunks of `size`, as a decompressor hands them over. */
async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

/** A raw ustar header block with a correct checksum; `edit` changes fields before the checksum is taken. */
function header(name: string, size: number, edit: (b: Buffer) => void = () => {}): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 'utf8');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  b.write(EPOCH.toString(8).padStart(11, '0') + '\0', 136, 'latin1');
  b[156] = 0x30;
  b.write('ustar\u000000', 257, 'latin1');
  edit(b);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}
const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
const END = Buffer.alloc(1024);

async function rejectsTar(p: Promise<unknown>, reason: TarError['reason'], ...mentions: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TarError && e.reason === reason, `expected a ${reason} TarError, got ${String(e)}`);
    for (const m of mentions) assert.ok(e.message.includes(m), `message should mention ${JSON.stringify(m)}: ${e.message}`);
    return true;
  });
}

describe('readTar', () => {
  const longName = `usr/share/${'deep/'.repeat(30)}file.txt`;
  const items = [
    { name: './usr/', type: 'directory' as const, mode: 0o755 },
    { name: './usr/bin/tool', content: '#!/bin/true\n', mode: 0o755, uid: 65532 },
    { name: './usr/bin/alias', type: 'link' as const, linkname: './usr/bin/tool' },
    { name: './usr/bin/sh', type: 'symlink' as const, linkname: 'tool' },
    { name: longName, content: 'long\n' },
  ];

  it('reads a layer held in memory: names as written, pax long names applied, content as views', async () => {
    const tar = await tarOf(items, EPOCH);
    const members = await walk(bytesSource(tar));
    assert.deepEqual(members.map((m) => [m.name, m.type]), [
      ['./usr/', 'directory'],
      ['./usr/bin/tool', 'file'],
      ['./usr/bin/alias', 'link'],
      ['./usr/bin/sh', 'symlink'],
      [longName, 'file'],
    ]);
    assert.deepEqual(members[1], { name: './usr/bin/tool', type: 'file', mode: 0o755, uid: 65532, mtime: EPOCH, linkname: '', content: '#!/bin/true\n' });
    assert.equal(members[2]!.linkname, './usr/bin/tool');
    assert.equal(members[4]!.content, 'long\n');
    // Image tars name members relative and tidy; the caller normalises (a .deb reader keeps its own rules).
    assert.equal(memberName('./usr/bin/'), 'usr/bin');
    assert.equal(memberName('/a//b/../c'), 'a/c');
  });

  it('reads the same members from a stream, whatever the chunk boundaries, and skips content nobody asked for', async () => {
    const tar = await tarOf(items, EPOCH);
    const whole = await walk(bytesSource(tar));
    for (const size of [1, 7, 512, 513, 100_000]) assert.deepEqual(await walk(streamSource(chunked(tar, size))), whole, `chunks of ${size}`);
    const names: string[] = [];
    for await (const m of readTar(streamSource(chunked(tar, 64)), { where: 'x' })) names.push(m.name);
    assert.equal(names.length, 5);
  });

  it('reads what GNU tar writes: GNU long names and link names, and pax headers', { skip: missingTools({ tar: 'tar' }) }, async () => {
    const dir = join(scratch, 'gnu');
    mkdirSync(join(dir, ...longName.split('/').slice(0, -1)), { recursive: true });
    writeFileSync(join(dir, longName), 'long\n');
    symlinkSync(`../${'x'.repeat(150)}`, join(dir, 'far'));
    for (const format of ['gnu', 'posix']) {
      const file = join(scratch, `${format}.tar`);
      const made = spawnSync('tar', ['-C', dir, `--format=${format}`, '--owner=0', '--group=0', '-cf', file, longName, 'far']);
      assert.equal(made.status, 0, String(made.stderr));
      const members = await walk(bytesSource(readFileSync(file)), file);
      assert.deepEqual(members.map((m) => [m.name, m.type, m.linkname, m.content]), [
        [longName, 'file', '', 'long\n'],
        ['far', 'symlink', `../${'x'.repeat(150)}`, undefined],
      ], format);
    }
  });

  it('indexes an archive on disk and reads one member by name, following symlinks between members', async () => {
    const file = join(scratch, 'docker-save.tar');
    writeFileSync(file, await tarOf([
      { name: 'manifest.json', content: '[]' },
      { name: 'abc/layer.tar', content: 'layer bytes' },
      { name: 'def/layer.tar', type: 'symlink', linkname: '../abc/layer.tar' },
    ], EPOCH));
    const tar = await TarFile.open(file);
    assert.equal(await tar.text('manifest.json'), '[]');
    assert.equal(await tar.text('def/layer.tar'), 'layer bytes');
    assert.equal(await tar.read('missing'), undefined);
    await assert.rejects(TarFile.open(join(scratch, 'nothing.tar')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  });

  it('reads numbers as old tars wrote them: padded with spaces or NULs, or in base-256', async () => {
    const tar = Buffer.concat([
      header('old', 0, (b) => b.write('   755 \0', 100, 'latin1')),
      header('nul', 0, (b) => b.write('\x00\x00\x000640\x00', 100, 'latin1')),
      header('big-uid', 0, (b) => {
        b.fill(0, 108, 116);
        b[108] = 0x80;
        b[111] = 0x01;
      }),
      END,
    ]);
    assert.deepEqual((await walk(bytesSource(tar))).map((m) => [m.name, m.mode, m.uid]), [['old', 0o755, 0], ['nul', 0o640, 0], ['big-uid', 0o644, 2 ** 32]]);
  });

  it('takes the real size from a pax record and tolerates an archive without its end blocks', async () => {
    const pax = enc('16 size=0000005\n');
    const tar = Buffer.concat([header('PaxHeader', pax.length, (b) => (b[156] = 0x78)), pax, pad(pax.length), header('five', 999), enc('12345'), pad(5)]);
    assert.deepEqual((await walk(bytesSource(tar))).map((m) => [m.name, m.content]), [['five', '12345']]);
  });

  describe('refuses hostile and broken tars', () => {
    const good = Buffer.concat([header('a', 3), enc('abc'), pad(3), END]);

    it('a header whose checksum does not match, naming the byte', async () => {
      const bad = Buffer.from(good);
      bad[0] = 0x62;
      await rejectsTar(walk(bytesSource(bad), 'bad.tar'), 'malformed', 'byte 0 of bad.tar', 'checksum');
    });

    it('a header of no known format (no ustar magic)', async () => {
      await rejectsTar(walk(bytesSource(Buffer.concat([header('a', 0, (b) => b.fill(0, 257, 265)), END]))), 'malformed', 'ustar');
    });

    it('a size that is no number, negative, or a pax size that is not decimal', async () => {
      await rejectsTar(walk(bytesSource(Buffer.concat([header('a', 0, (b) => b.write('zzzzzzzzzzz\0', 124, 'latin1')), END]))), 'malformed', 'size');
      await rejectsTar(walk(bytesSource(Buffer.concat([header('a', 0, (b) => b.fill(0xff, 124, 136)), END]))), 'malformed', 'size');
      const pax = enc('12 size=-1\n');
      await rejectsTar(walk(bytesSource(Buffer.concat([header('P', pax.length, (b) => (b[156] = 0x78)), pax, pad(pax.length), header('a', 0), END]))), 'malformed', 'pax size');
    });

    it('a member that claims more than is left, in memory (before reading) and in a stream (when it ends)', async () => {
      const claims = Buffer.concat([header('big', 1 << 30), enc('only this')]);
      await rejectsTar(walk(bytesSource(claims), 'cut.tar'), 'malformed', '1073741824 bytes of content', 'cut.tar');
      await rejectsTar(walk(streamSource(chunked(claims, 100)), 'cut.tar'), 'malformed', 'cut.tar', 'ends first');
      // Cut inside a header, or inside the padding after the last member.
      await rejectsTar(walk(bytesSource(good.subarray(0, 1100))), 'malformed', '512-byte tar header');
      await rejectsTar(walk(streamSource(chunked(good.subarray(0, 600), 50))), 'malformed', 'padding');
    });

    it('an extended header larger than any real one', async () => {
      const huge = 5 * 1024 * 1024;
      await rejectsTar(walk(bytesSource(Buffer.concat([header('L', huge, (b) => (b[156] = 0x4c)), Buffer.alloc(huge), header('a', 0), END]))), 'malformed', String(huge));
    });

    it('content beyond maxFileSize, as too-large rather than malformed', async () => {
      const entries = readTar(bytesSource(good), { where: 'limit.tar', maxFileSize: 2 });
      const first = await entries.next();
      assert.ok(!first.done);
      await rejectsTar(first.value.content(), 'too-large', 'at most 2 bytes', 'limit.tar');
      await entries.return(undefined);
    });

    it('stops the stream it reads when the caller stops early, so a decompressor is released', async () => {
      let closed = false;
      async function* source() {
        try {
          yield* chunked(good, 10);
        } finally {
          closed = true;
        }
      }
      for await (const m of readTar(streamSource(source()), { where: 'x' })) {
        assert.equal(m.name, 'a');
        break;
      }
      assert.ok(closed);
    });
  });
});
